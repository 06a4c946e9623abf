"""Every command's config is checked before any work: types, ranges, paths, named by their key;
before a Trainer is built, the data checked or a checkpoint read; and a failed start leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from amazon_cls.runtime.schema import problems_of
from tests.helpers import ROOT, compose_config, compose_train, schema_of, tiny_overrides


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=abc", "data.batch_size='abc': must be a whole number >= 1"),
        ("trainer.max_epochs=abc", "trainer.max_epochs='abc': must be a whole number >= 1"),
        ("model.optimizer.lr=-1", "model.optimizer.lr=-1: must be > 0"),
        ("model.drop_rate=1.5", "model.drop_rate=1.5: must be >= 0 and < 1"),
        ("model.mixup=-0.2", "model.mixup=-0.2: must be >= 0"),
        ("rare_weight=-1", "rare_weight=-1: must be >= 0"),
        ("data.fold=7", "data.fold=7 must be below data.num_folds=5"),
        ("data.root=", "data.root='': an empty path; null (not an empty string) means the embedded synthetic"),
        ("data.root=/no/such/folder", "data.root='/no/such/folder': no such folder"),
        ("ckpt_path=/no/such.ckpt", "ckpt_path='/no/such.ckpt': no such file"),
        ("model.loss.pos_weight=[1,2]", "model.loss.pos_weight=[1, 2]: must hold 17 values, not 2"),
        ("trainer.precision=bf17", "trainer.precision='bf17': must be 'auto' or '32'"),
        ("+model.loss.gamma=nan", "model.loss.gamma=nan: must be a finite number >= 0"),
    ],
)
def test_a_training_value_of_the_wrong_type_or_range_is_named(tmp_path: Path, override: str, message: str) -> None:
    problems = problems_of(compose_train([override], tmp_path / "run"), schema_of("train"))
    assert len(problems) == 1 and problems[0].startswith(message)


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ("predict", ["ckpt=/no.ckpt", "input=/tmp", "output=o.csv"], "ckpt='/no.ckpt': no such file"),
        ("predict", ["ensemble=/tmp", "input=/tmp", "output=/tmp"], "output='/tmp': is an existing folder"),
        ("predict", ["ensemble=/tmp", "input=[/tmp,/nowhere]", "output=o.csv"], "item 1 ('/nowhere') no such folder"),
        ("map", ["ckpt=/no.ckpt", "scene=/etc/hostname", "chip_size=abc"], "chip_size='abc': must be 'auto' or"),
        ("map", ["ensemble=/tmp", "scene=/etc/hostname", "scale_16bit=0"], "scale_16bit=0: must be > 0"),
        (
            "map",
            ["ensemble=/tmp", "scene=/etc/hostname", "output_dir=/etc/hostname"],
            "output_dir='/etc/hostname': is an existing file",
        ),
        ("ensemble", ["sweep_dir=/no/sweep"], "sweep_dir='/no/sweep': no such folder"),
        ("ensemble", ["sweep_dir=/tmp", "specialist_weight=2"], "specialist_weight=2: must be >= 0 and <= 1"),
        ("audit", ["sweep_dir=/tmp", "folds=[1,7]"], "folds=[1, 7] must each be below data.num_folds=5"),
        ("tune", ["folds=[5]"], "folds=[5] must each be below data.num_folds=5"),
    ],
)
def test_other_commands_name_their_keys(tmp_path: Path, command: str, overrides: list[str], message: str) -> None:
    problems = problems_of(compose_config(command, overrides, tmp_path / "run"), schema_of(command))
    assert any(message in problem for problem in problems), problems


def test_the_shipped_configs_pass_their_checks(tmp_path: Path, tiny_root: Path) -> None:
    assert problems_of(compose_train([*tiny_overrides(tiny_root)], tmp_path / "run"), schema_of("train")) == []
    for model in ("resnet50", "small", "plain_cnn", "mobile"):  # resolver values are left to their code
        assert problems_of(compose_train([f"model={model}"], tmp_path / "run"), schema_of("train")) == []


def test_no_trainer_data_check_or_import_comes_before_the_config_check(
    tmp_path: Path, tiny_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amazon_cls.data import datamodule
    from amazon_cls.train import run
    from amazon_cls.training import fit

    def too_early(*args, **kwargs):
        raise AssertionError("work began before the config was checked")

    for module, name in ((fit, "make_trainer"), (fit, "build"), (datamodule, "bad_rows_of")):
        monkeypatch.setattr(module, name, too_early)  # where they are used
    with pytest.raises(ValueError, match=r"data\.batch_size='abc'"):
        run(compose_train([*tiny_overrides(tiny_root), "data.batch_size=abc"], tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_failed_start_leaves_no_run_folder_and_names_the_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "amazon_cls.train", "data.fold=7", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "data.fold=7 must be below data.num_folds=5" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert not run_dir.exists()  # nothing a later run must work around


@pytest.mark.parametrize(
    ("command", "key", "overrides"),
    [
        ("predict", "input", ["ckpt=pyproject.toml", "output=o.csv"]),
        ("monitor", "scenes", ["ckpt=pyproject.toml"]),
        ("map", "scene", ["ckpt=pyproject.toml"]),
    ],
)
def test_a_path_given_alone_for_a_list_becomes_a_list_of_one(
    tmp_path: Path, command: str, key: str, overrides: list[str]
) -> None:
    from amazon_cls.runtime.schema import check_config

    alone = str(ROOT / "tests") if command == "predict" else str(ROOT / "pyproject.toml")
    cfg = compose_config(command, [*overrides, f"{key}={alone}"], tmp_path / "run")
    check_config(cfg, schema_of(command))
    assert list(cfg[key]) == [alone]  # never taken for a list of its characters


@pytest.mark.parametrize(
    ("command", "added", "refused"),
    [
        ("tune", ["+space.model.mixup=0.5"], ["+space.model.mixup"]),
        (
            "train",
            ["+datum.root=/x", "+trainer.limit_train_batches=2", "+member=plain_cnn", "+model.nan_step=3"],
            ["+datum.root"],
        ),
        ("map", ["ckpt=pyproject.toml", "scene=pyproject.toml", "+strid=64"], ["+strid"]),
        ("tune", ["+tune.space.model.mixup={type: float, low: 0, high: 1}", "+pruner.lower=2.0"], []),
        ("tune", ["+tune.spaces.model.mixup=1"], ["+tune.spaces.model.mixup"]),
    ],
)
def test_a_key_added_that_no_one_reads_is_refused_by_name(
    tmp_path: Path, command: str, added: list[str], refused: list[str]
) -> None:
    from amazon_cls.runtime.schema import check_config

    cfg = compose_config(command, added, tmp_path / "run")
    if not refused:
        check_config(cfg, schema_of(command))
        return
    with pytest.raises(ValueError) as error:
        check_config(cfg, schema_of(command))
    for key in refused:
        assert f"{key}: no such key is read" in str(error.value)
    assert str(error.value).count("no such key is read") == len(refused)
