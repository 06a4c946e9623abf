"""The README says what today's code does: its commands compose with the real configs, its make
targets exist, its table of defaults is the configs' and its run-folder files are a run's."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import ROOT, compose_config

README = (ROOT / "README.md").read_text()
COMMANDS = {path.stem for path in (ROOT / "amazon_cls").glob("*.py")} - {"__init__", "__main__"}


def shell_lines() -> list[str]:
    """Every command of the README's bash blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line:
                lines.append(line)
    return lines


def overrides_of(tokens: list[str]) -> list[str]:
    """The overrides a README command gives, as composable ones: placeholders and optional parts
    dropped, a sweep's first value kept."""
    kept = []
    for token in tokens:
        if "<" in token or "..." in token or token.startswith(("[", "-m", "hydra.run.dir")) or "=" not in token:
            continue
        key, _, value = token.partition("=")
        if not value.startswith("[") and "," in value:
            value = value.split(",")[0]  # a sweep: its first member
        kept.append(f"{key}={value}")
    return kept


PYTHON_COMMANDS = [line for line in shell_lines() if line.startswith("python -m amazon_cls.")]


def test_the_readme_runs_real_commands() -> None:
    assert len(PYTHON_COMMANDS) >= 15
    for line in PYTHON_COMMANDS:
        command = line.split()[2].removeprefix("amazon_cls.")
        assert command in COMMANDS, line


@pytest.mark.parametrize("line", PYTHON_COMMANDS)
def test_every_readme_command_composes_with_its_config(line: str, tmp_path: Path) -> None:
    tokens = shlex.split(line)
    command = tokens[2].removeprefix("amazon_cls.")
    if command == "bench":  # argparse, not Hydra
        return
    required = {"predict": ["ckpt=a.ckpt", "input=in", "output=out.csv"], "map": ["ckpt=a.ckpt", "scene=s.tif"]}
    overrides = overrides_of(tokens[3:])
    defaults = [o for o in required.get(command, []) if o.split("=")[0] not in {x.split("=")[0] for x in overrides}]
    compose_config(command, [*defaults, *overrides], tmp_path / "run")  # an unknown key or option fails here


def test_every_make_target_the_readme_names_exists() -> None:
    listed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    targets = set(re.findall(r"make (\w[\w-]*)", listed))
    named = set(re.findall(r"`make ([a-z][\w-]*)", README)) | {line.split()[1] for line in shell_lines()
                                                                if line.startswith("make ")}  # fmt: skip
    assert named <= targets, named - targets


def readme_table(heading: str) -> list[list[str]]:
    """The body rows of the first table after `heading`, as cells without their backticks."""
    lines = README[README.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start + 2 : end]]
    return [[re.sub(r"^`([^`]*)`.*$", r"\1", cell) for cell in row] for row in cells]


def test_the_readme_defaults_are_the_configs(tmp_path: Path) -> None:
    cfg = compose_config("train", [], tmp_path / "run")
    rows = readme_table("Defaults of `python -m amazon_cls.train`")
    assert len(rows) >= 10
    for key, default in rows:
        value = cfg.hydra.runtime.choices[key] if key in cfg.hydra.runtime.choices else OmegaConf.select(cfg, key)
        expected = None if default.startswith("null") else default
        assert str(value) == str(expected) or value == pytest.approx(float(expected)), (key, value, default)


def test_the_readme_run_folder_files_are_a_runs(trained_run: Path) -> None:
    rows = readme_table("Each training run writes a folder")
    files = [name for cells in rows for name in re.findall(r"([\w]+\.(?:json|csv))", cells[0])]
    assert {"thresholds.json", "metrics.json", "settings.json", "val_probs.csv", "test_probs.csv"} <= set(files)
    assert all((trained_run / name).is_file() for name in files), [n for n in files if not (trained_run / n).is_file()]
