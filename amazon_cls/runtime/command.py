"""What every command shares: Hydra over the package's own configs, the project's resolvers, the
config check, the hardware choices, a clock, and one line instead of a traceback for a bad config
value or input (lightning-hydra-template's `task_wrapper` and `extras` do this there).

A command module is `run(cfg)` decorated with `@task("<config name>", <Schema>, hardware=...)`, plus
`main = command(run)`; `python -m amazon_cls.<command>` and `amazon-cls <command>` call `main()`.
`task` checks the config before anything heavy loads and logs the machine's choices, so a test that
calls `run(cfg)` gets what a user gets. A problem with the config or the
input (any ValueError, FileNotFoundError, or Hydra's and OmegaConf's errors) ends the command
with one line that names the key or the file and status 1 (`HYDRA_FULL_ERROR=1` shows the
traceback). So does a file that cannot be written, wherever the write fails: in the project's
writers, in a library's (a logger flushing at teardown), or in Hydra's own, before the task runs.
Nothing heavy is imported here, so that a config error is reported in moments.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
import multiprocessing
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, InstantiationException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from amazon_cls.runtime.config import register_resolvers
from amazon_cls.runtime.paths import set_project_root
from amazon_cls.runtime.schema import check_config
from amazon_cls.store.atomic import OutputError

log = logging.getLogger(__name__)
CONFIG_PATH = "pkg://amazon_cls.conf"  # the configs ship inside the package
# Every check of the project raises one of these (DataError, CheckpointError, ChipDecodeError,
# LabelVocabularyError, UnknownTagError, ThresholdError, SceneError and RunDamaged are
# ValueErrors; OutputError a file that cannot be written); Hydra wraps those of constructors.
USER_ERRORS = (ValueError, FileNotFoundError, OutputError, InstantiationException, OmegaConfBaseException)
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # a write that failed for want of room or of a writable disk
WRITE_ERRORS = (*NO_ROOM, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST)


def describe(error: BaseException) -> str:
    """The message on one line, with Hydra's and OmegaConf's `full_key: <key> ...` context folded
    into `(config key: <key>)`; a user error raised inside a `_target_` is told as itself, without
    Hydra's "Error in call to target ..." around it."""
    if isinstance(error, InstantiationException) and isinstance(error.__cause__, USER_ERRORS):
        return describe(error.__cause__)
    text, _, context = str(error).partition("full_key: ")
    key = context.split()[0] if context.split() else ""
    return " ".join(text.split()) + (f" (config key: {key})" if key else "")


def one_line(error: BaseException) -> str | None:
    """The line that ends a command on `error`: a user error's own, or a failed write's; None
    where it is neither (a bug: its traceback is shown)."""
    return describe(error) if isinstance(error, USER_ERRORS) else write_failure(error)


def write_failure(error: BaseException) -> str | None:
    """The one line for a failed write, if that is what `error` is or what it happened while
    handling: the project's own message (an OutputError) where there is one, else the system's
    words and the file they name."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    if told := next((str(e) for e in chain if isinstance(e, OutputError)), None):
        return told
    failed = next((e for e in chain if isinstance(e, OSError) and e.errno in WRITE_ERRORS), None)
    if failed is None:
        return None
    where = failed.filename or open_file_of(failed)
    return f"{where}: cannot write ({failed.strerror})" if failed.errno in NO_ROOM else f"{where}: {failed.strerror}"


def open_file_of(error: BaseException) -> str:
    """The file a write that names none was writing: the innermost open file among the locals of
    the frames it failed in (`with open(path, "w") as file: file.write(...)`, as Hydra saves its
    config copy); else the run folder."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                return value.name
    return f"a file in {HydraConfig.get().runtime.output_dir}" if HydraConfig.initialized() else "a file"


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def is_rank_zero() -> bool:
    """This process is the first of a distributed run, or the only one (as Lightning's launchers set it)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0


def one_line_errors(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """`task(cfg)`, ended by one line and status 1 on a user error, and timed."""

    @functools.wraps(task)
    def run_task(cfg: DictConfig) -> Any:
        started = time.monotonic()
        try:
            result = task(cfg)
        except Exception as error:
            line = one_line(error)
            if line is None or SHOW_TRACEBACKS:
                raise
            log.error("%s", line)
            remove_failed_start()
            raise SystemExit(1) from None
        if is_rank_zero():
            log.info("Finished in %s", format_duration(time.monotonic() - started))
        return result

    return run_task


def remove_failed_start() -> None:
    """Remove the run folder Hydra made for a command that stopped before doing anything: one that
    holds nothing but Hydra's own files (its config copy and the log). A folder with anything else
    (checkpoints of a run to resume, a record of settings) is kept."""
    if not HydraConfig.initialized():
        return
    hydra = HydraConfig.get()
    folder = Path(hydra.runtime.output_dir)
    if not folder.is_dir() or not {entry.name for entry in folder.iterdir()} <= {".hydra", f"{hydra.job.name}.log"}:
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if Path(getattr(h, "baseFilename", "/")).parent == folder]:
        root.removeHandler(handler)  # its file goes with the folder
        handler.close()
    shutil.rmtree(folder, ignore_errors=True)


def task(config_name: str, schema: type, hardware: str | None = None) -> Callable[[Callable[[DictConfig], Any]], Any]:
    """A command's work, prepared: its config (`conf/<config_name>.yaml`) checked against its typed
    `schema` before anything heavy loads, then, with `hardware` (`train`, `predict` or `data`: which
    keys), every `auto` setting resolved for this machine and each choice logged once."""

    def prepared(work: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
        @functools.wraps(work)
        def run(cfg: DictConfig) -> Any:
            check_config(cfg, schema)  # a bad value is named at once
            if hardware:
                from amazon_cls.runtime.hardware import KEYS, resolve_config  # heavy: once the config is good

                for line in resolve_config(cfg, KEYS[hardware]):
                    if is_rank_zero():
                        log.info("Hardware choice: %s", line)
            return work(cfg)

        run.config_name = config_name  # type: ignore[attr-defined]  (what `command` composes)
        run.schema = schema  # type: ignore[attr-defined]  (what the documentation lists)
        return run

    return prepared


def command(task: Callable[[DictConfig], Any], exit_at_once: bool = False) -> Callable[[], Any]:
    """The main function of a command: its `task` under `hydra.main` with `conf/<config name>.yaml`;
    with `exit_at_once`, a finished run ends without the interpreter's teardown (`end_now`)."""
    config_name = task.config_name  # type: ignore[attr-defined]
    hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(one_line_errors(task))

    def main() -> Any:
        register_resolvers()  # here, not at import: importing the package changes nothing
        set_project_root()
        with failures_in_one_line():
            result = hydra_main()
        if exit_at_once:
            end_now()
        return result

    return main


def end_now() -> None:
    """End a finished run at once, its logs and streams flushed: the interpreter's teardown unloads
    PyTorch's libraries for 2-3 s that the user waits for and that change nothing (every output is
    written and closed; loader workers are gone). Not in a process group (DDP), whose ranks end
    together, nor while child processes live (a joblib multirun's workers, which the teardown
    stops: left behind, they would hold the caller's pipes for minutes), nor where the user asked
    for tracebacks."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or SHOW_TRACEBACKS or multiprocessing.active_children():
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


SHOW_TRACEBACKS = os.environ.get("HYDRA_FULL_ERROR") == "1"  # the user's wish, read before `main` sets it


@contextmanager
def failures_in_one_line() -> Iterator[None]:
    """Hydra's own failures told as the task's are: a run folder that cannot be made or written is
    one line and status 1, a bad override Hydra's message. A log file or a logger's thread that
    cannot write is not a second traceback: the error the command ends with says it once."""
    logging.raiseExceptions = False  # a full disk under the log file: the console still shows all
    threading.excepthook = quiet_write_failures
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises, and this tells what happened
    try:
        yield
    except Exception as error:
        if SHOW_TRACEBACKS:
            raise
        if isinstance(error, CompactHydraException):  # a bad override: Hydra's own words
            sys.stderr.write(f"{error}\n" + (f"{error.__cause__}\n" if error.__cause__ else ""))
        elif (line := one_line(error)) is None:
            traceback.print_exception(error)
        elif logging.getLogger().handlers:
            log.error("%s", line)
        else:  # before Hydra set logging up
            sys.stderr.write(f"[ERROR] {line}\n")
        raise SystemExit(1) from None


def quiet_write_failures(args: threading.ExceptHookArgs) -> None:
    """A background writer (TensorBoard's event file) that fails for want of room: a warning line;
    the command's own write fails too and says so. Anything else is told as Python tells it."""
    if args.exc_value is not None and (line := write_failure(args.exc_value)):
        log.warning("%s (in %s)", line, args.thread.name if args.thread else "a thread")
    else:
        threading.__excepthook__(args)
