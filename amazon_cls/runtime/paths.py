"""Where a command's relative paths start: the project root, found as lightning-hydra-template
finds it (rootutils): the nearest folder, from the current one up, that holds a `.project-root`
marker (the checkout has one). Outside a checkout (a wheel installed anywhere), the current
folder. `PROJECT_ROOT` in the environment wins; a command sets it for its configs
(`paths.root_dir`), so `data=planet_dev` and `outputs/` mean the same wherever it runs from."""

from __future__ import annotations

import os
from pathlib import Path

MARKER = ".project-root"


def project_root(start: Path | None = None) -> Path:
    if os.environ.get("PROJECT_ROOT"):
        return Path(os.environ["PROJECT_ROOT"])
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / MARKER).is_file()), here)


def set_project_root() -> Path:
    """Find the project root and put it in `PROJECT_ROOT` for the configs' `${oc.env:PROJECT_ROOT}`."""
    root = project_root()
    os.environ["PROJECT_ROOT"] = str(root)
    return root
