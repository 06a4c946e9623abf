"""The monitor tests' placed chips, shared with the sensor tests."""

from tests.geo.test_monitor import chips_by_tags  # noqa: F401  (a fixture)
