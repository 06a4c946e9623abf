"""SIGTERM and Ctrl+C: never status 0, never recorded as finished.

Lightning turns SIGTERM into a SystemExit without a code (status 0, which a scheduler or `make`
takes for success) and Ctrl+C into status 1. A command turns them into 143 and 130, the shells'
statuses for those signals, and says what was kept and how to resume.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


def interruption(stop: SystemExit) -> tuple[str, int]:
    """The signal behind a SystemExit Lightning raised for it, and the shells' exit status for it."""
    return ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("SIGINT", 130)


def interrupted(stop: SystemExit, kept: str, resume: str) -> SystemExit:
    """The exit of an interrupted command: status 143 or 130, with what was kept and how to resume."""
    signal_name, code = interruption(stop)
    log.error("Interrupted (%s): %s; %s", signal_name, kept, resume)
    return SystemExit(code)


class StopOnSigterm(L.Callback):
    """Lightning notes a SIGTERM, but only its training loop stops for it: prediction stops at the
    next batch too (as SIGTERMException, the SystemExit the training loop raises)."""

    def on_predict_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.received_sigterm:
            raise SIGTERMException()
