"""Tests of amazon_cls.model."""
