"""Chips on disk -> uint8 batches: decoding, folds, transforms, the LightningDataModule."""
