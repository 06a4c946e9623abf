"""A study in a real database, so that it resumes and is shared: a SQLite file in the study folder
by default, or any database URL Optuna takes (`storage=postgresql://...`), where every worker runs
the same command (one SLURM array task each, say) and takes the next trial.

A study counts its finished trials (complete, pruned, or refused for a non-finite result) towards
`n_trials`; a trial interrupted (SIGTERM, Ctrl+C) is marked failed, is not counted, and the same
command runs it again (its parameters enqueued) and the remaining trials. Each trial records its
worker (host and process id): a worker of this machine that is gone (SIGKILL, the OOM killer) has
its trial failed and retried at once; one elsewhere, once its heartbeat is stale. A worker with
nothing left to start waits for the trials others are running, so that no worker reports a best
from a study that is not finished; if `timeout` ends the wait, it says which trial may still be
running and exits non-zero. A study keeps the settings it was made with, and another command for
the same study name is refused rather than mixed in.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from amazon_cls.runtime.command import USER_ERRORS, write_failure
from amazon_cls.store.atomic import OutputError, process_is_gone
from amazon_cls.store.report_folders import StudyFolder

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 60  # a worker that dies without a word (SIGKILL, a lost node) has its trial failed after 3 of these
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
WAIT_SECONDS = 5  # how often a worker with nothing to start looks at the others' trials again
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class Unfinished(ValueError):
    """The time ran out while other workers' trials still ran: the study is not finished."""


class Interrupted(Exception):
    """SIGTERM or Ctrl+C during a study: the trial is marked failed, the command exits 143 or 130."""

    def __init__(self, signal_name: str, code: int) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name, self.code = signal_name, code


def storage_of(url: str | None, study_dir: Path) -> optuna.storages.RDBStorage:
    """The study's database: `url`, or a SQLite file in the study folder; with heartbeats, so that
    a trial whose worker vanished is failed and not waited for."""
    if url is None:
        study_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{StudyFolder(study_dir.resolve()).database}"
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # workers wait for the file's lock
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback()  # a vanished worker's trial is run again
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=STALE_SECONDS,
                heartbeat_stale_trial_callback=retry,
            )
    except (ImportError, ValueError, optuna.exceptions.StorageInternalError) as error:
        raise ValueError(f"storage={url}: cannot open it as an Optuna database ({error})") from None


DATABASE_WRITE_FAILURES = ("disk is full", "readonly database", "unable to open database file", "disk I/O error")


@contextmanager
def database_writes(database: str) -> Iterator[None]:
    """A study database that cannot be written (a full disk, a read-only file) is named in one line,
    like any other file that cannot be written, not as SQLAlchemy's statement and traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as error:
        reason = str(error.orig or error).splitlines()[0]
        if not any(words in reason for words in DATABASE_WRITE_FAILURES):
            raise
        code = errno.ENOSPC if "full" in reason else errno.EIO
        raise OutputError(code, f"{database}: cannot write ({reason}); the trials recorded before are kept") from error


class TrialErrorsInOneLine(logging.Filter):
    """Optuna logs a trial that failed with its traceback; for a bad input or a file that cannot be
    written, the line is enough, and the command ends with the error's own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (isinstance(error, USER_ERRORS) or write_failure(error)):
            record.exc_info, record.exc_text = None, None
        return True


def open_study(name: str, storage: optuna.storages.RDBStorage, settings: dict[str, Any], pruner: Any) -> optuna.Study:
    """The study `name` in `storage`, made now with these settings or resumed with the same ones
    (its sampler is the caller's to set, once the trials it holds are known)."""
    study = optuna.create_study(
        study_name=name, storage=storage, pruner=pruner, direction="maximize", load_if_exists=True
    )
    recorded = study.user_attrs.get("settings")
    if recorded is None:
        study.set_user_attr("settings", settings)
    elif recorded != settings:
        changed = sorted(key for key in {*recorded, *settings} if recorded.get(key) != settings.get(key))
        raise ValueError(
            f"study {name!r} in {storage.url}: made with other settings ({', '.join(changed)}: "
            f"{[recorded.get(k) for k in changed]} then, {[settings.get(k) for k in changed]} now); "
            "give another study_name, or the study's own settings"
        )
    return study


def retry_interrupted(study: optuna.Study) -> None:
    """Enqueue again the parameters of every interrupted trial not yet retried: an interruption
    loses no point of the search (the training config's own recipe included)."""
    trials = study.get_trials(deepcopy=False)
    retried = {trial.user_attrs.get("retry_of") for trial in trials}
    for trial in trials:
        if trial.state == TrialState.FAIL and "interrupted" in trial.user_attrs and trial.number not in retried:
            kept = {key: trial.user_attrs[key] for key in ("default_recipe",) if key in trial.user_attrs}
            study.enqueue_trial(trial.params, user_attrs={**kept, "retry_of": trial.number})


def worker_is_gone(worker: str | None) -> bool:
    """The worker `host:pid` ran on this machine and its process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's: its heartbeat tells
    return process_is_gone(int(pid))


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Fail the running trials of this machine's workers that are gone, as interrupted, so that
    they are retried now rather than once their heartbeat is stale; their numbers."""
    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if not worker_is_gone(worker):
            continue
        storage.set_trial_user_attr(trial._trial_id, "interrupted", f"its worker {worker} is gone")
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):  # False: another worker did it first
            log.warning("Trial %d: its worker %s is gone; it is run again", trial.number, worker)
            failed.append(trial.number)
    return failed


def running(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def still_running(trials: list[FrozenTrial]) -> str:
    """Which trials may still be running, where, and when they are retried if their worker is gone."""
    named = ", ".join(f"trial {t.number} (worker {t.user_attrs.get('worker', 'unknown')})" for t in trials)
    retried = f"a trial whose worker stopped is retried once its heartbeat is {STALE_SECONDS} s old"
    return f"{named} may still be running; {retried}"


def counted(trial: FrozenTrial) -> bool:
    """A trial that used its share of the budget: finished, pruned, or refused for its result."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "refused" in trial.user_attrs
    )


def remaining(study: optuna.Study, n_trials: int) -> int:
    """Trials still to start: the budget less those counted and those other workers are running."""
    trials = study.get_trials(deepcopy=False)
    return n_trials - sum(map(counted, trials)) - sum(t.state == TrialState.RUNNING for t in trials)


@contextmanager
def signals_fail_trials() -> Iterator[None]:
    """SIGTERM raises `Interrupted` wherever the study is (Lightning notes it during a fit as well),
    so that Optuna marks the running trial failed before the command exits."""

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted("SIGTERM", 143)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_study(
    study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, timeout: float | None
) -> int:
    """Run trials one at a time until the study has `n_trials` counted (or `timeout` seconds pass);
    returns how many this worker ran. A non-finite result fails its trial and the study goes on."""
    from amazon_cls.runtime.signals import interruption
    from amazon_cls.search.trials import NonFinite

    def trial_of_this_worker(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", WORKER)
        try:
            return objective(trial)
        except SystemExit as stop:  # Lightning's own form of a signal during a fit: the trial fails
            trial.set_user_attr("interrupted", interruption(stop)[0])
            raise Interrupted(*interruption(stop)) from None
        except Interrupted as stop:
            trial.set_user_attr("interrupted", stop.signal_name)
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", "SIGINT")
            raise

    logging.getLogger("optuna.study._optimize").addFilter(TrialErrorsInOneLine())
    started, ran, waited_for = time.monotonic(), 0, set()
    with signals_fail_trials(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        while timeout is None or time.monotonic() - started < timeout:
            optuna.storages.fail_stale_trials(study)  # a vanished worker's trial is failed, not waited for
            fail_dead_workers(study)
            retry_interrupted(study)
            if remaining(study, n_trials) <= 0:
                if not (others := running(study)):  # none is this worker's: its trial ended
                    return ran  # the study is finished
                if new := {t.number for t in others} - waited_for:
                    log.info(
                        "Nothing left to start; waiting for %s", still_running([t for t in others if t.number in new])
                    )
                    waited_for |= new
                time.sleep(WAIT_SECONDS)
                continue
            try:
                study.optimize(trial_of_this_worker, n_trials=1, catch=(NonFinite,))
            except KeyboardInterrupt:
                raise Interrupted("SIGINT", 130) from None
            ran += 1
    if others := running(study):
        raise Unfinished(
            f"timeout={timeout}: the study is not finished: {still_running(others)}; run the same command then"
        )
    return ran
