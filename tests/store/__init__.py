"""Tests of amazon_cls.store."""
