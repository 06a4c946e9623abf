"""Tests of amazon_cls.geo."""
