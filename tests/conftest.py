"""Shared fixtures: a tiny synthetic data set, a finished run of the tiny model on it, a browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amazon_cls.data.synthetic import write_dataset
from tests.browser import browser  # noqa: F401  (a fixture: pages in headless chromium)
from tests.helpers import TINY_DATA, compose_train, tiny_overrides

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs a worker per core: one thread each, or they contend
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data set in the Kaggle layout (TINY_DATA: chips, size, seed)."""
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny", **TINY_DATA)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path) -> Path:
    """A finished 2-epoch run of the tiny model on the tiny data set (its run folder)."""
    from amazon_cls.train import run

    output_dir = tmp_path_factory.mktemp("train") / "run"
    run(compose_train([*tiny_overrides(tiny_root), f"predict_dirs=[{tiny_root / 'test-jpg'}]"], output_dir))
    return output_dir
