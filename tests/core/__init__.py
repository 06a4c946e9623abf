"""Tests of amazon_cls.core."""
