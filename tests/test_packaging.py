"""The package stands alone: its wheel carries the configs, and a command runs from any folder,
through `python -m amazon_cls.<command>` or the `amazon-cls <command>` console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **options)


def test_the_wheel_ships_the_configs_and_a_command_runs_from_another_folder(tmp_path: Path, tiny_root: Path) -> None:
    source = tmp_path / "source"  # a copy: building in place would leave build/ in the checkout
    shutil.copytree(ROOT / "amazon_cls", source / "amazon_cls", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(source),
        ]
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("amazon_cls-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"amazon_cls/conf/train.yaml", "amazon_cls/conf/model/loss/asl.yaml"} <= set(names)
    installed = run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"), str(wheel)]
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PROJECT_ROOT"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    where = run([sys.executable, "-c", "import amazon_cls; print(amazon_cls.__file__)"], cwd=elsewhere, env=env)
    assert where.stdout.startswith(str(tmp_path / "site")), where.stdout  # the wheel's copy, not the checkout
    checked = run([sys.executable, "-m", "amazon_cls", "check", f"data.root={tiny_root}"], cwd=elsewhere, env=env)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "no problems found" in checked.stdout
    assert list((elsewhere / "outputs" / "check" / "runs").iterdir())  # outputs under the folder it ran in


def test_the_console_script_names_its_commands() -> None:
    result = run([sys.executable, "-m", "amazon_cls"], cwd=ROOT)
    assert result.returncode == 2
    assert "usage: amazon-cls <command>" in result.stderr and "train, predict, ensemble, map" in result.stderr
