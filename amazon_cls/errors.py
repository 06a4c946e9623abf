"""How an entry point ends on a problem with its config or input: one line that names the key or
the file, and exit status 1, instead of a traceback (HYDRA_FULL_ERROR=1 shows the traceback)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from hydra.errors import InstantiationException
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)
# Every check of the project raises one of these (DataError, CheckpointError, ChipDecodeError,
# LabelVocabularyError and UnknownTagError are ValueErrors); Hydra wraps those of constructors.
USER_ERRORS = (ValueError, FileNotFoundError, InstantiationException, OmegaConfBaseException)


def describe(error: BaseException) -> str:
    """The message on one line, with Hydra's and OmegaConf's `full_key: <key> ...` context folded
    into `(config key: <key>)`."""
    text, _, context = str(error).partition("full_key: ")
    key = context.split()[0] if context.split() else ""
    return " ".join(text.split()) + (f" (config key: {key})" if key else "")


def one_line_errors(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an entry point's main function (under `@hydra.main`)."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("%s", describe(error))
            raise SystemExit(1) from None

    return wrapper
