"""Sphinx configuration of the amazon-cls documentation (`make docs`: HTML into docs/_build/html).

Sphinx with MyST Markdown under the furo theme, as torchgeo and Lightning build theirs: pages stay
Markdown that GitHub also renders, the API reference comes from the docstrings (autodoc and
autosummary), and `_ext/amazon_docs.py` generates each command's keys from its real config.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

import amazon_cls  # noqa: E402  (after the path: the checkout's package, not another install)

project = "amazon-cls"
author = "the amazon-cls authors"
copyright = "the amazon-cls authors, MIT licence"
release = amazon_cls.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "amazon_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}  # autosummary writes .rst
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve, and a broken one fails the build
default_role = "code"  # the docstrings' `name` is code, as in the Markdown pages

autosummary_generate = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_mock_imports: list[str] = []
suppress_warnings = ["autosummary.import_cycle"]

html_theme = "furo"
html_title = f"amazon-cls {release}"
html_static_path: list[str] = []
nitpicky = False
autodoc_inherit_docstrings = False  # Lightning's own docstrings use roles of its docs
