"""Pages that cannot drift from the code: each command's keys, its config errors and the config groups,
generated at build time from the real configs (`amazon_cls/conf/`) and their checks
(each command's typed schema, `run.schema`, checked by `amazon_cls.runtime.schema`).

    ```{config-keys} map
    ```
    ```{config-errors} train
    data.batch_size=abc
    data.fold=7
    ```
    ```{config-groups}
    ```

`config-keys` lists every key of `python -m amazon_cls.<command>` with its default, what the check
allows and the comment beside it in the YAML. `config-errors` runs the command's config check on each
line of overrides and prints the message a user sees; a line that raises nothing fails the build.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

from amazon_cls.core.schema import Rule, rules_of
from amazon_cls.runtime.config import register_resolvers
from amazon_cls.runtime.schema import check_config

CONF = Path(__file__).resolve().parents[2] / "amazon_cls" / "conf"
# Keys a user does not set: Hydra's bookkeeping, the objects' targets, the callbacks' and loggers' wiring.
HIDDEN = re.compile(r"^(hydra|paths|callbacks|logger|task_name|model_name)(\.|$)|(^|\.)_target_$|^trainer\.plugins")
# What a command's config cannot compose without (a required key left at ???).
REQUIRED = {
    "predict": ["ckpt=a.ckpt", "input=in", "output=out.csv"],
    "map": ["ckpt=a.ckpt", "scene=s.tif"],
    "monitor": ["ckpt=a.ckpt", "scenes=[a.tif,b.tif]"],
    "sample": ["monitor=outputs/monitor"],
    "area": ["sample=sample.csv"],
}
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w]*):(?P<rest>.*)$")


def schema_of(command: str) -> type:
    """The typed schema a command checks its config against (`@task(..., schema)`)."""
    return importlib.import_module(f"amazon_cls.{command}").run.schema


def rules_for(command: str) -> dict[str, Rule]:
    return rules_of(schema_of(command))


def composed(command: str, overrides: list[str]) -> DictConfig:
    """`conf/<command>.yaml` as `python -m amazon_cls.<command> <overrides>` composes it."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module("amazon_cls.conf", version_base="1.3"):
        return compose(command, overrides=overrides, return_hydra_config=True)


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, raw value) of every leaf, interpolations left as written."""
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def comments_of(path: Path, prefix: str) -> dict[str, str]:
    """Each key's comment in a YAML file: the one on its line, else the lines just above it."""
    found: dict[str, str] = {}
    above: list[str] = []
    parents: list[tuple[int, str]] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if not match or stripped.startswith("-"):
            above = []
            continue
        indent = len(match["indent"])
        parents = [(level, name) for level, name in parents if level < indent]
        key = prefix + ".".join([*(name for _, name in parents), match["key"]])
        parents.append((indent, match["key"]))
        inline = match["rest"].partition(" #")[2].strip()
        if inline or above:
            found[key] = inline or " ".join(above)
        above = []
    return found


def yaml_files(command: str, choices: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """The YAML files that built the config, each with the package its keys sit under."""
    yield CONF / f"{command}.yaml", ""
    for group, option in choices.items():
        if group.startswith("hydra") or not isinstance(option, str):
            continue
        path = CONF / group / f"{option}.yaml"
        if not path.is_file():
            continue
        global_package = path.read_text().startswith("# @package _global_")
        prefix = "" if global_package else group.replace("/", ".") + "."
        for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults", []):
            if isinstance(entry, str) and entry != "_self_" and (CONF / group / f"{entry}.yaml").is_file():
                yield CONF / group / f"{entry}.yaml", prefix
        yield path, prefix


def shown(value: Any) -> str:
    if value == "???":
        return "required"
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text}`".replace("|", "\\|")


def keys_table(command: str) -> str:
    """A Markdown table of the command's keys: default, what is allowed, what it does."""
    cfg = composed(command, [])
    choices = dict(cfg.hydra.runtime.choices)
    comments: dict[str, str] = {}
    for path, prefix in yaml_files(command, choices):
        comments.update(comments_of(path, prefix))
    raw = OmegaConf.to_container(cfg, resolve=False)
    rules = rules_for(command)
    rows = ["| key | default | allowed | what it does |", "|---|---|---|---|"]
    for key, value in leaves(raw):
        if HIDDEN.search(key):
            continue
        allowed = rules[key].describe() if key in rules else ""
        what = comments.get(key, "").replace("|", "\\|")
        rows.append(f"| `{key}` | {shown(value)} | {allowed} | {what} |")
    groups = [f"`{group}={option}`" for group, option in choices.items() if not group.startswith("hydra") and option]
    lead = f"The defaults compose {', '.join(groups)}.\n\n" if groups else ""
    return lead + "\n".join(rows)


def config_error(command: str, line: str) -> str:
    """The one line a user sees for `python -m amazon_cls.<command> <line>`."""
    overrides = line.split()
    given = {override.split("=")[0] for override in overrides}
    defaults = [o for o in REQUIRED.get(command, []) if o.split("=")[0] not in given]
    try:
        check_config(composed(command, [*defaults, *overrides]), schema_of(command))
    except ValueError as error:
        return str(error)
    raise ExtensionError(f"config-errors: `{command} {line}` raises no error; the page would show a stale message")


def group_table() -> str:
    """Every config group and its options, as the conf folder holds them."""
    rows = ["| group | options |", "|---|---|"]
    for folder in sorted(path for path in CONF.rglob("*") if path.is_dir() and any(path.glob("*.yaml"))):
        group = folder.relative_to(CONF).as_posix()
        options = ", ".join(f"`{path.stem}`" for path in sorted(folder.glob("*.yaml")))
        rows.append(f"| `{group}` | {options} |")
    return "\n".join(rows)


class ConfigKeys(SphinxDirective):
    required_arguments = 1

    def run(self) -> list:
        return self.parse_text_to_nodes(keys_table(self.arguments[0]))


class ConfigErrors(SphinxDirective):
    required_arguments = 1
    has_content = True

    def run(self) -> list:
        command = self.arguments[0]
        blocks = []
        for line in filter(None, (line.strip() for line in self.content)):
            blocks.append(f"$ python -m amazon_cls.{command} {line}\n{config_error(command, line)}")
        return self.parse_text_to_nodes("```text\n" + "\n\n".join(blocks) + "\n```")


class ConfigGroups(SphinxDirective):
    def run(self) -> list:
        return self.parse_text_to_nodes(group_table())


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("config-keys", ConfigKeys)
    app.add_directive("config-errors", ConfigErrors)
    app.add_directive("config-groups", ConfigGroups)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
