"""Values and inputs are checked before the work, with the key or the file named."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from amazon_cls.core.labels import LABELS
from amazon_cls.core.thresholds import UNKNOWN_VIEW, Thresholds
from amazon_cls.data.check import bad_rows_of
from amazon_cls.data.decode import ChipDecodeError, read_chip
from amazon_cls.data.layout import DataError, Layout, read_labels_csv, read_name_table
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.submission import write_submission
from amazon_cls.data.to_predict import ChipFolders
from amazon_cls.model.module import ChipClassifier
from amazon_cls.runtime import hardware
from amazon_cls.store.checkpoint import CheckpointError
from amazon_cls.store.tables import probability_frame
from amazon_cls.train import run
from tests.helpers import ROOT, compose_config, compose_train, tiny_overrides

JPG = SOURCES["jpg"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.num_folds=1", r"data\.num_folds=1: must be >= 2"),
        ("data.batch_size=0", r"data\.batch_size=0: must be >= 1"),
        ("data.oversample_rare=0", r"data\.oversample_rare=0: must be >= 1"),
        ("data.num_workers=-1", r"data\.num_workers=-1: must be >= 0"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0: must be >= 1"),
        (
            "model.backbone=resnet5O",
            r"model\.backbone='resnet5O': timm has no model of that name; close names: resnet50",
        ),
    ],
)
def test_bad_config_values_are_named(tmp_path: Path, tiny_root: Path, override: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        run(compose_train([*tiny_overrides(tiny_root), override], tmp_path / "run"))
    assert not (tmp_path / "logs" / "cache").exists()  # stopped before the data check


def test_image_size_below_the_backbones_minimum_is_refused_before_the_data(tmp_path: Path, tiny_root: Path) -> None:
    overrides = [*tiny_overrides(tiny_root), "model=inception_v3", "model.pretrained=false", "model.image_size=32"]
    with pytest.raises(ValueError, match=r"model\.image_size=32 is too small for model\.backbone=inception_v3"):
        run(compose_train(overrides, tmp_path / "run"))
    assert not (tmp_path / "logs" / "cache").exists()


def test_chips_named_like_missing_values_are_chips(tmp_path: Path, tiny_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    labels = pd.read_csv(root / "train_v2.csv", dtype=str, keep_default_na=False)
    for old, new in (("train_0", "NA"), ("train_1", "null")):
        (root / "train-jpg" / f"{old}.jpg").rename(root / "train-jpg" / f"{new}.jpg")
        labels.loc[labels["image_name"] == old, "image_name"] = new
    labels.to_csv(root / "train_v2.csv", index=False)
    run(compose_train([*tiny_overrides(root), "debug=fdr"], tmp_path / "run"))
    (folds,) = (tmp_path / "logs" / "folds").glob("*.csv")
    assert {"NA", "null"} <= set(pd.read_csv(folds, dtype=str, keep_default_na=False)["image_name"])


def test_thresholds_file_takes_any_key_order_and_refuses_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    values = {label: 0.01 * (i + 1) for i, label in enumerate(LABELS)}
    path.write_text(json.dumps(dict(reversed(values.items()))))
    np.testing.assert_allclose(Thresholds.read(path).views[UNKNOWN_VIEW], list(values.values()))
    for bad in (None, "0.1", 5, -1, float("nan"), True):
        path.write_text(json.dumps({**values, "haze": bad}))
        with pytest.raises(ValueError, match=r"thresholds\.json: thresholds must be numbers in \[0, 1\]"):
            Thresholds.read(path)
    path.write_text(json.dumps({label: 0.2 for label in LABELS[1:]}))
    with pytest.raises(ValueError, match=r"thresholds\.json: needs each of the 17 labels exactly once"):
        Thresholds.read(path)


def test_the_same_chip_in_two_input_folders_is_refused(tmp_path: Path, tiny_root: Path) -> None:
    shutil.copytree(tiny_root / "test-jpg", tmp_path / "again")
    folders = ChipFolders([tiny_root / "test-jpg", tmp_path / "again"], 32, JPG)
    with pytest.raises(ValueError, match=r"chip 'test_0' is in two input folders: .*test-jpg/test_0\.jpg and .*again"):
        folders.setup("predict")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no chips \(.jpg"):
        ChipFolders([tmp_path / "empty"], 32, JPG).setup("predict")


def test_files_that_are_not_checkpoints_are_named(tmp_path: Path, trained_run: Path) -> None:
    last = (trained_run / "checkpoints" / "last.ckpt").read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(last[: len(last) // 2])
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    torch.save(
        torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"], tmp_path / "bare.ckpt"
    )
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "other.ckpt")
    for name, reason in [
        ("truncated", "not a readable checkpoint"),
        ("notes", "not a readable checkpoint"),
        ("bare", "not a checkpoint of this project"),
        ("other", "not a checkpoint of this project"),
        ("missing", "checkpoint not found"),
    ]:
        with pytest.raises(CheckpointError, match=rf"{name}\.ckpt: {reason}"):
            ChipClassifier.from_checkpoint(tmp_path / f"{name}.ckpt")


def test_bad_chip_policy_is_applied_on_every_run(tmp_path: Path, tiny_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    (root / "train-jpg" / "train_5.jpg").write_bytes(b"")
    assert len(bad_rows_of(Layout(root, JPG), tmp_path / "check", "skip")) == 1
    with pytest.raises(DataError, match=r"train_5\.jpg: empty file"):
        bad_rows_of(Layout(root, JPG), tmp_path / "check", "fail")  # the cached findings, this run's policy


def png_named_jpg(tmp_path: Path, image: Image.Image) -> Path:
    path = tmp_path / f"chip_{image.mode.replace(';', '_')}.jpg"
    image.save(path, format="PNG")
    return path


def test_every_image_mode_is_decoded_to_its_8_bit_rendering_or_refused(tmp_path: Path) -> None:
    ramp = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16  # 0 ... 65,520
    gray16 = png_named_jpg(tmp_path, Image.fromarray(ramp.astype(np.uint16)))
    np.testing.assert_array_equal(read_chip(gray16, JPG)[..., 0], np.round(ramp / 257).astype(np.uint8))
    assert read_chip(gray16, JPG).max() == 255 and read_chip(gray16, JPG).min() == 0  # not all white
    palette = Image.fromarray((ramp % 4).astype(np.uint8), mode="L").convert("P")
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * (256 * 3 - 12))
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    np.testing.assert_array_equal(read_chip(png_named_jpg(tmp_path, palette), JPG), colours[ramp % 4])
    gray_alpha = Image.fromarray(np.stack([(ramp % 256).astype(np.uint8), np.full((64, 64), 7, np.uint8)], -1), "LA")
    np.testing.assert_array_equal(
        read_chip(png_named_jpg(tmp_path, gray_alpha), JPG), np.repeat((ramp % 256)[..., None], 3, 2)
    )
    for image, kind in [
        (Image.fromarray(ramp.astype(np.int32) * 1000, mode="I"), "32-bit integer"),
        (Image.fromarray(ramp.astype(np.float32) / 7, mode="F"), "32-bit float"),
    ]:
        path = tmp_path / f"chip_{image.mode}.tif"
        image.save(path.with_suffix(".tiff"), format="TIFF")
        path = path.with_suffix(".tiff").rename(tmp_path / f"chip_{image.mode}.jpg")
        with pytest.raises(ChipDecodeError, match=rf"chip_{image.mode}\.jpg: a {kind} image"):
            read_chip(path, JPG)


def test_a_gpu_trainer_without_a_gpu_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for precision in ("auto", "16-mixed"):
        with pytest.raises(ValueError, match=r"trainer\.accelerator=gpu: this machine has no CUDA GPU"):
            hardware.resolve_precision(precision, "gpu")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image_name;tags\ntrain_0;clear primary\n", "columns separated by semicolons"),
        ("image_name,tags,\ntrain_0,clear primary,\n", "rows end with a trailing comma"),
        ("image_name,tags\n", "the labels file has a header but no rows"),
        ("", "empty file"),
    ],
)
def test_labels_files_in_another_shape_are_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "train_v2.csv").write_text(text)
    with pytest.raises(DataError, match=rf"train_v2\.csv: {message}"):
        read_labels_csv(tmp_path / "train_v2.csv")


def test_order_file_in_another_shape_is_named(tmp_path: Path) -> None:
    (tmp_path / "order.csv").write_text("image_name\ttags\ntest_0\t\n")
    probs = probability_frame(["test_0"], np.full((1, len(LABELS)), 0.5))
    with pytest.raises(DataError, match=r"order\.csv: columns separated by tabs"):
        write_submission(tmp_path / "sub.csv", probs, np.full(len(LABELS), 0.2), order=tmp_path / "order.csv")


@pytest.mark.slow
def test_a_sweep_checks_every_member_before_the_first_trains(tmp_path: Path, tiny_root: Path) -> None:
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "amazon_cls.train",
        "-m",
        *tiny_overrides(tiny_root),
        "model=tiny,inception_v3",
        "model.image_size=32",
        "model.pretrained=false",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Error in sweep member [model=inception_v3" in result.stderr
    assert "model.image_size=32 is too small for model.backbone=inception_v3" in result.stderr
    assert not sweep.exists()  # stopped before the sweep began: the tiny member never started


class Payload:
    """What a crafted checkpoint carries: unpickled, it would write a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("route", ["predict", "map", "monitor", "evaluate", "resume", "module"])
def test_a_checkpoint_holding_code_is_refused_on_every_route_without_running_it(
    tmp_path: Path, tiny_root: Path, trained_run: Path, route: str
) -> None:
    from amazon_cls.data.synthetic import write_mosaic
    from amazon_cls.store.checkpoint import CheckpointError

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.ckpt"
    state = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    torch.save({**state, "extra": Payload(marker)}, evil)
    scene = write_mosaic(tmp_path / "s_2016-06-01.tif", [np.zeros((32, 32, 3), np.uint8) + 90] * 4, cols=2)
    later = write_mosaic(tmp_path / "s_2016-07-01.tif", [np.zeros((32, 32, 3), np.uint8) + 90] * 4, cols=2)
    common = ["num_workers=0", "trainer.precision=32"]
    routes = {
        "predict": ("predict", [f"ckpt={evil}", f"input={tiny_root / 'test-jpg'}", f"output={tmp_path / 's.csv'}"]),
        "map": ("map", [f"ckpt={evil}", f"scene={scene}", "chip_size=32"]),
        "monitor": ("monitor", [f"ckpt={evil}", f"scenes=[{scene},{later}]", "chip_size=32", "operating_point=f2"]),
        "evaluate": ("evaluate", [f"ckpt={evil}", f"data.root={tiny_root}", "fold=0"]),
    }
    with pytest.raises(CheckpointError) as refused:
        if route == "module":
            ChipClassifier.from_checkpoint(evil)
        elif route == "resume":
            from amazon_cls.train import run as train

            train(compose_config("train", [*tiny_overrides(tiny_root), f"ckpt_path={evil}"], tmp_path / "run"))
        else:
            command, overrides = routes[route]
            run = __import__(f"amazon_cls.{command}", fromlist=["run"]).run
            run(
                compose_config(
                    command,
                    [*overrides, *common, f"output_dir={tmp_path / 'out'}"]
                    if command != "predict"
                    else [*overrides, *common],
                    tmp_path / "run",
                )
            )
    message = str(refused.value)
    assert "evil.ckpt: not a checkpoint of this project: it holds Python objects or code" in message
    assert "weights_only" not in message and "re-save the weights from a source you trust" in message
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../../../x", "sub/chip", "..\\\\x", "..", ".", ""])
def test_a_chip_name_that_is_a_path_is_refused_with_its_row_in_every_table(tmp_path: Path, name: str) -> None:
    table = tmp_path / "table.csv"
    pd.DataFrame({"image_name": ["train_0", "train_1", name], "tags": ["clear primary"] * 3}).to_csv(table, index=False)
    for read in (read_labels_csv, lambda path: read_name_table(path, ["image_name"], "order file")):
        with pytest.raises(DataError, match=r"table\.csv: 1 chip name\(s\) are paths, not names \(row 4: "):
            read(table)


def test_a_check_and_a_training_run_refuse_a_name_that_leaves_its_folder(tmp_path: Path, tiny_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    (tmp_path / "x.jpg").write_bytes((root / "train-jpg" / "train_0.jpg").read_bytes())  # what ../x would read
    labels = pd.read_csv(root / "train_v2.csv", dtype=str, keep_default_na=False)
    labels.loc[0, "image_name"] = "../../x"
    labels.to_csv(root / "train_v2.csv", index=False)
    for module in ("amazon_cls.check", "amazon_cls.train"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                f"data.root={root}",
                "trainer.max_epochs=1",
                f"hydra.run.dir={tmp_path / 'r'}",
            ]
            if module.endswith("train")
            else [sys.executable, "-m", module, f"data.root={root}", f"hydra.run.dir={tmp_path / 'c'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0, module
        assert "chip name(s) are paths, not names (row 2: '../../x')" in result.stdout + result.stderr, module


def test_names_a_spreadsheet_would_run_are_warned_about_and_escaped_on_request(tmp_path: Path, caplog) -> None:
    names = ["train_0", "=cmd|' -C calc'!A0", "+1", "@SUM(A1)", "-2"]
    probs = probability_frame(names, np.full((len(names), len(LABELS)), 0.9))
    caplog.set_level(logging.WARNING)
    write_submission(tmp_path / "kaggle.csv", probs, np.full(len(LABELS), 0.5))
    assert "4 chip name(s) start like a spreadsheet formula" in caplog.text and "=cmd|' -C calc'!A0" in caplog.text
    kaggle = pd.read_csv(tmp_path / "kaggle.csv", dtype=str, keep_default_na=False)
    assert kaggle["image_name"].tolist() == names  # as Kaggle needs them
    write_submission(tmp_path / "sheet.csv", probs, np.full(len(LABELS), 0.5), escape_formulas=True)
    for path in (tmp_path / "sheet.csv", tmp_path / "sheet_probs.csv"):
        written = pd.read_csv(path, dtype=str, keep_default_na=False)["image_name"].tolist()
        assert written == ["train_0", "'=cmd|' -C calc'!A0", "'+1", "'@SUM(A1)", "'-2"]
