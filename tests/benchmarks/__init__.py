"""Tests of benchmarks/ (make bench)."""
