"""The monitor tests' placed chips and their oracle, shared with the sensor and shard tests."""

from tests.geo.test_monitor import chips_by_tags, oracle  # noqa: F401  (fixtures)
