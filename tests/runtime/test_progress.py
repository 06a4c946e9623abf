"""A long stage in a log that is a file says how far it is every half minute: batches done of all,
chips a second and the time left, computed from a clock (here a fake one, so nothing is timed)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from amazon_cls.runtime.progress import StageLog, duration


def test_a_long_prediction_logs_its_rate_and_time_left_every_half_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    stage = StageLog(every=30, clock=lambda: now[0])
    trainer = SimpleNamespace(num_predict_batches=[10], is_global_zero=True, sanity_checking=False)
    caplog.set_level(logging.INFO, logger="amazon_cls.runtime.progress")
    stage.on_predict_start(trainer, None)
    for index in range(10):
        now[0] += 10.0  # a batch of 64 chips every 10 s
        stage.on_predict_batch_end(trainer, None, None, {"image": torch.zeros(64, 3, 8, 8)}, index)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "Predicting: batch 3 of 10, 6.4 chips/s, about 70 s left",
        "Predicting: batch 6 of 10, 6.4 chips/s, about 40 s left",
        "Predicting: batch 9 of 10, 6.4 chips/s, about 10 s left",
    ]


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (45, 480, 7500)] == ["45 s", "8 min", "2 h 05 min"]
