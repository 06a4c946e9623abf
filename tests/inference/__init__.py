"""Tests of amazon_cls.inference."""
