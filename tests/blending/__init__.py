"""Tests of amazon_cls.blending."""
