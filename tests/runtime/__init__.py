"""Tests of amazon_cls.runtime."""
