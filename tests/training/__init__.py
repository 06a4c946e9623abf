"""Tests of amazon_cls.training."""
