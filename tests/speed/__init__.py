"""Tests of amazon_cls.speed."""
