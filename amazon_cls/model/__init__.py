"""The model: the LightningModule (`module`), its registries of losses, learning-rate schedules
and test-time augmentations (`losses`, `schedulers`, `tta`), backbones beyond timm's
(`backbones`), the training callbacks (`callbacks`), gathering per-chip results across DDP ranks
(`distributed`) and a colour-statistics baseline (`baseline`)."""
