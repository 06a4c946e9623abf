"""`amazon-cls <command> [overrides]` (also `python -m amazon_cls <command>`): the console script
that runs `python -m amazon_cls.<command>`.

DDP re-runs the script in new processes with the same arguments after the command's name was
taken off them; the name travels to them in the environment.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMANDS = (
    "train",
    "predict",
    "ensemble",
    "map",
    "monitor",
    "sample",
    "area",
    "evaluate",
    "tune",
    "audit",
    "check",
    "eda",
    "baseline",
)
CHOSEN = "AMAZON_CLS_COMMAND"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        os.environ[CHOSEN] = sys.argv.pop(1)
    name = os.environ.get(CHOSEN)
    if name not in COMMANDS:
        print(f"usage: amazon-cls <command> [overrides ...]\ncommands: {', '.join(COMMANDS)}", file=sys.stderr)
        raise SystemExit(2)
    importlib.import_module(f"amazon_cls.{name}").main()


if __name__ == "__main__":
    main()
