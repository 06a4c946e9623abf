"""The one line a command ends with on a user error."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from amazon_cls.runtime.command import describe


def refuse(value: int) -> None:
    raise ValueError(f"model.pretrained=true: cannot be had here ({value})")


def test_an_error_inside_a_target_is_told_as_itself() -> None:
    with pytest.raises(Exception) as caught:
        instantiate({"_target_": f"{__name__}.refuse", "value": 3})
    assert describe(caught.value) == "model.pretrained=true: cannot be had here (3)"


def test_config_key_context_is_folded_into_one_line() -> None:
    error = ValueError("Value 'abc' could not be converted to Integer\n    full_key: data.batch_size\n    type=dict")
    assert describe(error) == "Value 'abc' could not be converted to Integer (config key: data.batch_size)"


def test_a_finished_prediction_ends_at_once_with_its_log_written(monkeypatch) -> None:
    """`end_now` flushes the logs, then leaves without the interpreter's teardown; under DDP (a
    process group), or with child processes alive, it leaves the ending to the usual teardown."""
    from amazon_cls.runtime import command as command_module

    calls = []
    monkeypatch.setattr(command_module.logging, "shutdown", lambda: calls.append("logs flushed"))
    monkeypatch.setattr(command_module.os, "_exit", calls.append)
    monkeypatch.setenv("WORLD_SIZE", "2")
    command_module.end_now()
    assert calls == []
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(command_module.multiprocessing, "active_children", lambda: ["a joblib worker"])
    command_module.end_now()
    assert calls == []  # its children are stopped by the teardown, not orphaned
    monkeypatch.setattr(command_module.multiprocessing, "active_children", list)
    command_module.end_now()
    assert calls == ["logs flushed", 0]
