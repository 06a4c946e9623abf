"""What every command shares: Hydra over the package's own configs, the project's resolvers, the
config check, the hardware choices, a clock, and one line instead of a traceback for a bad config
value or input (lightning-hydra-template's `task_wrapper` and `extras` do this there).

A command module is `run(cfg)` decorated with `@task("<config name>", <Schema>, hardware=...)`, plus
`main = command(run)`; `python -m amazon_cls.<command>` and `amazon-cls <command>` call `main()`.
`task` checks the config before anything heavy loads and logs the machine's choices, so a test that
calls `run(cfg)` gets what a user gets. A problem with the config or the
input (any ValueError, FileNotFoundError, or Hydra's and OmegaConf's errors) ends the command
with one line that names the key or the file and status 1 (`HYDRA_FULL_ERROR=1` shows the
traceback). Nothing heavy is imported here, so that a config error is reported in moments.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
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


def describe(error: BaseException) -> str:
    """The message on one line, with Hydra's and OmegaConf's `full_key: <key> ...` context folded
    into `(config key: <key>)`; a user error raised inside a `_target_` is told as itself, without
    Hydra's "Error in call to target ..." around it."""
    if isinstance(error, InstantiationException) and isinstance(error.__cause__, USER_ERRORS):
        return describe(error.__cause__)
    text, _, context = str(error).partition("full_key: ")
    key = context.split()[0] if context.split() else ""
    return " ".join(text.split()) + (f" (config key: {key})" if key else "")


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
        except USER_ERRORS as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("%s", describe(error))
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


def command(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """The main function of a command: its `task` under `hydra.main` with `conf/<config name>.yaml`."""
    config_name = task.config_name  # type: ignore[attr-defined]
    hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(one_line_errors(task))

    def main() -> Any:
        register_resolvers()  # here, not at import: importing the package changes nothing
        set_project_root()
        return hydra_main()

    return main
