"""The monitor tests' series and oracle, shared: sample and area start from a monitor run."""

from pathlib import Path

import pytest

from amazon_cls.geo.change.monitoring import monitor
from tests.geo.test_monitor import DATES, LOADER, Oracle, chips_by_tags, monitor_cfg, oracle, write_series  # noqa: F401


@pytest.fixture()
def monitored(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> Path:  # noqa: F811
    """A finished monitor run of three dates: two agriculture cells and a mine confirmed, a road retracted."""
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    return tmp_path / "out"
