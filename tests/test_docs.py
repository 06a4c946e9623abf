"""The README and the documentation say what today's code does: their commands compose with the real
configs, their make targets exist, their links lead somewhere, the extension tutorial's code runs,
the generated key tables hold every checked key, and the run-folder files they list are a run's."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, compose_config

sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import amazon_docs

README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
SOURCES = [README, *(page for page in PAGES if "_build" not in page.parts)]
COMMANDS = {path.stem for path in (ROOT / "amazon_cls").glob("*.py")} - {"__init__", "__main__"}


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.S)


def shell_lines(path: Path) -> list[str]:
    """Every command of a page's bash blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in blocks(path, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line:
                lines.append(line)
    return lines


def overrides_of(tokens: list[str]) -> list[str]:
    """The overrides a documented command gives, as composable ones: placeholders and optional parts
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


PYTHON_COMMANDS = [
    pytest.param(line, id=f"{path.relative_to(ROOT)}:{line[:60]}")
    for path in SOURCES
    for line in shell_lines(path)
    if line.startswith("python -m amazon_cls.")
]


def test_the_documentation_runs_real_commands() -> None:
    assert len(PYTHON_COMMANDS) >= 40
    for param in PYTHON_COMMANDS:
        line = param.values[0]
        assert line.split()[2].removeprefix("amazon_cls.") in COMMANDS, line


@pytest.mark.parametrize("line", PYTHON_COMMANDS)
def test_every_documented_command_composes_with_its_config(line: str, tmp_path: Path) -> None:
    tokens = shlex.split(line)
    command = tokens[2].removeprefix("amazon_cls.")
    if command == "bench":  # argparse, not Hydra
        return
    overrides = overrides_of(tokens[3:])
    given = {override.split("=")[0] for override in overrides}
    defaults = [o for o in amazon_docs.REQUIRED.get(command, []) if o.split("=")[0] not in given]
    compose_config(command, [*defaults, *overrides], tmp_path / "run")  # an unknown key or option fails here


def test_every_make_target_the_documentation_names_exists() -> None:
    listed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    targets = set(re.findall(r"make (\w[\w-]*)", listed))
    for path in SOURCES:
        named = set(re.findall(r"`make ([a-z][\w-]*)", path.read_text()))
        named |= {line.split()[1] for line in shell_lines(path) if line.startswith("make ")}
        assert named <= targets, (path.name, named - targets)


def test_the_readme_is_a_front_door_whose_links_lead_somewhere() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", text)
    assert len(links) >= 25
    assert all((ROOT / link).is_file() for link in links), [link for link in links if not (ROOT / link).is_file()]


def test_the_package_docstring_names_every_command() -> None:
    import amazon_cls
    from amazon_cls.__main__ import COMMANDS as LISTED

    assert set(LISTED) == COMMANDS
    assert all(re.search(rf"\b{name}\b", amazon_cls.__doc__) for name in LISTED), amazon_cls.__doc__


def test_the_extension_tutorial_runs_and_registers_each_piece(tmp_path: Path) -> None:
    """The tutorial's code, run as one module, registers a backbone, a loss, a data source and a map format."""
    code = "\n\n".join(blocks(ROOT / "docs" / "tutorials" / "extending.md", "python"))
    check = """
import timm, torch
from amazon_cls.data.sources import SOURCES
from amazon_cls.geo.outputs import OUTPUTS
from amazon_cls.model.losses import build_loss
net = timm.create_model("tiny_net", num_classes=17)
assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 17)
loss = build_loss({"name": "smooth_bce", "smoothing": 0.1}, None)
assert float(loss(torch.zeros(1, 17), torch.ones(1, 17))) > 0
assert SOURCES["s2_stack"].bands[3] == "nir" and OUTPUTS["label_counts"].suffix == "_label_counts.csv"
print("registered")
"""
    (tmp_path / "tutorial.py").write_text(code + "\n" + check)
    result = subprocess.run([sys.executable, str(tmp_path / "tutorial.py")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "registered" in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_generated_key_table_holds_every_checked_key(command: str) -> None:
    from amazon_cls.runtime.schema import value_of

    table = amazon_docs.keys_table(command)
    cfg = amazon_docs.composed(command, amazon_docs.REQUIRED.get(command, []))
    present = [key for key in amazon_docs.rules_for(command) if value_of(cfg, key)[0]]
    assert present
    missing = [key for key in present if f"| `{key}` |" not in table]
    assert not missing, missing


def test_a_documented_error_that_no_longer_happens_fails_the_build() -> None:
    assert "must be a whole number" in amazon_docs.config_error("train", "data.batch_size=abc")
    with pytest.raises(Exception, match="raises no error"):
        amazon_docs.config_error("train", "data.batch_size=32")


def outputs_table() -> list[list[str]]:
    """The body rows of the run-folder table of the outputs reference, as cells without backticks."""
    lines = (ROOT / "docs" / "reference" / "outputs.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start + 2 : end]]


def test_the_documented_run_folder_files_are_a_runs(trained_run: Path) -> None:
    files = [name for cells in outputs_table() for name in re.findall(r"([\w]+\.(?:json|csv))", cells[0])]
    assert {"thresholds.json", "metrics.json", "settings.json", "val_probs.csv", "test_probs.csv"} <= set(files)
    assert all((trained_run / name).is_file() for name in files), [n for n in files if not (trained_run / n).is_file()]
