"""Tests of amazon_cls.data."""
