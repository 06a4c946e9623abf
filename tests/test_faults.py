"""Faults a user meets, one class each (the reliability review's classes, with instances beyond
its examples): records that name their inputs by what they are, records that never outlive their
outputs, pixels and geometry that are what they claim, numbers that are numbers, label rules,
temporaries, writes that fail, damaged inputs, and reasons that say what is wrong."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import torch
from affine import Affine
from PIL import Image

from amazon_cls.blending.combine import run_ensemble
from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.data.check import check_dataset
from amazon_cls.data.layout import DataError, Layout, read_labels_csv
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.submission import write_submission
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.grid import Tiling, cells_frame, hectares, make_grid
from amazon_cls.geo.scene import Scene, SceneError, check_range
from amazon_cls.inference.predictor import Predictor
from amazon_cls.map import run as map_scenes
from amazon_cls.predict import run as predict
from amazon_cls.store import atomic
from amazon_cls.store.atomic import OutputError, write_json
from amazon_cls.store.checkpoint import CheckpointError
from amazon_cls.store.run_folder import RunDamaged, RunFolder
from amazon_cls.store.tables import probability_frame
from amazon_cls.train import run as train
from tests.helpers import (
    CHIPS,
    FOLDS,
    ROOT,
    TEST_CHIPS,
    compose_config,
    compose_train,
    fails_on_a_full_disk,
    fill,
    make_member,
    needs_tmpfs,
    schema_of,
    small_disk,
    snapshot,
    tiny_overrides,
)

JPG = SOURCES["jpg"]
CRS = "EPSG:32721"
SHORT = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "callbacks.tensorboard_extras=null"]


@pytest.fixture(scope="module")
def scene(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 x 3 mosaic of the tiny data set's test chips (32 px, 3 m pixels)."""
    chips = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tiny_root / "test-jpg").glob("*.jpg"))[:9]]
    return write_mosaic(tmp_path_factory.mktemp("scene") / "scene.tif", chips, cols=3)


def map_cfg(tmp_path: Path, ckpt: Path, scene: Path, *extra: str):
    overrides = [
        f"ckpt={ckpt}",
        f"scene={scene}",
        f"output_dir={tmp_path / 'map'}",
        "chip_size=32",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
        *extra,
    ]
    return compose_config("map", overrides, tmp_path / "hydra")


def best_of(run_dir: Path) -> Path:
    return next((run_dir / "checkpoints").glob("best-*.ckpt"))


# 1. A record names its inputs by what they are


def test_a_scene_is_mapped_again_when_its_checkpoint_was_replaced_at_the_same_path(
    tmp_path: Path, trained_run: Path, scene: Path
) -> None:
    ckpt = tmp_path / "model.ckpt"
    shutil.copy(best_of(trained_run), ckpt)
    assert map_scenes(map_cfg(tmp_path, ckpt, scene, "tta=none"))
    assert map_scenes(map_cfg(tmp_path, ckpt, scene, "tta=none")) == {}  # the same files and settings: done
    shutil.copy(trained_run / "checkpoints" / "last.ckpt", ckpt)  # a re-trained model under the same name
    assert map_scenes(map_cfg(tmp_path, ckpt, scene, "tta=none"))  # mapped again, not "already mapped"


def test_a_run_on_edited_labels_is_not_taken_for_the_finished_one(tmp_path: Path, tiny_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    args = [*tiny_overrides(root), *SHORT, "skip_finished=true"]
    train(compose_train(args, tmp_path / "run"))
    labels = pd.read_csv(root / "train_v2.csv")
    labels.loc[0, "tags"] = "cloudy"
    labels.to_csv(root / "train_v2.csv", index=False)
    with pytest.raises(ValueError, match=r"other settings \(data\.files: '[0-9a-f]+' -> '[0-9a-f]+'\)"):
        train(compose_train(args, tmp_path / "run"))


def test_an_ensemble_refuses_to_apply_to_members_retrained_since(tmp_path: Path, trained_run: Path) -> None:
    member = tmp_path / "member"
    shutil.copytree(trained_run, member)
    metrics = json.loads((member / "metrics.json").read_text())
    best = member / "checkpoints" / Path(metrics["best_checkpoint"]).name
    folder = RunFolder(member)  # the copy's own record: its files, as they are now
    folder.write_metrics(
        {**metrics, "best_checkpoint": str(best)},
        [folder.thresholds, folder.val_report, folder.val_probs, folder.test_probs],
    )
    run_ensemble([member], tmp_path / "ensemble")
    shutil.copy(member / "checkpoints" / "last.ckpt", best)  # the member trained again in place
    with pytest.raises(ValueError, match=r"combination\.json: made for other weights: .*best-.*changed since"):
        Predictor.of(None, str(tmp_path / "ensemble"), "d4")


# 2. A record never outlives a failed rewrite


def test_a_map_that_fails_halfway_keeps_the_previous_outputs_and_their_record(
    tmp_path: Path, trained_run: Path, scene: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amazon_cls.geo import outputs

    assert map_scenes(map_cfg(tmp_path, best_of(trained_run), scene))
    before = snapshot(tmp_path / "map")
    labels = outputs.OUTPUTS["labels"]

    def full_disk(path: Path, result: outputs.SceneResult) -> None:
        raise OutputError(errno.ENOSPC, f"{path}: cannot write (No space left on device)")

    monkeypatch.setitem(outputs.OUTPUTS._entries, "labels", outputs.Output(labels.suffix, full_disk))
    with pytest.raises(OutputError):
        map_scenes(map_cfg(tmp_path, best_of(trained_run), scene, "tta=none"))  # other settings, rewriting
    assert snapshot(tmp_path / "map") == before  # the earlier outputs and their record, untouched
    monkeypatch.undo()
    assert map_scenes(map_cfg(tmp_path, best_of(trained_run), scene)) == {}  # still finished: skipped


def test_a_submission_and_its_probabilities_never_come_from_two_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "submission.csv"
    probs = probability_frame(["a", "b"], np.full((2, NUM_LABELS), 0.3))
    write_submission(output, probs, np.full(NUM_LABELS, 0.2))
    before = snapshot(tmp_path)
    real = os.fsync

    def fails_on_the_second_file(descriptor: int) -> None:
        if any(p.name.startswith(".submission.csv.") for p in tmp_path.iterdir()):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fails_on_the_second_file)
    with pytest.raises(OutputError, match="no earlier output was changed"):
        write_submission(output, probability_frame(["a", "b"], np.full((2, NUM_LABELS), 0.9)), np.full(NUM_LABELS, 0.2))
    assert snapshot(tmp_path) == before  # both files of the first run, and no temporary


def test_a_rerun_that_does_not_finish_leaves_no_metrics(tmp_path: Path, tiny_root: Path) -> None:
    args = [*tiny_overrides(tiny_root), *SHORT]
    train(compose_train(args, tmp_path / "run"))
    with pytest.raises(Exception, match="simulated crash"):
        train(
            compose_train(
                [
                    *args,
                    "allow_changed_settings=true",
                    "trainer.max_epochs=2",
                    "ckpt_path=last",
                    "+callbacks.crash={_target_: tests.training.test_reliability.CrashAtEpoch, epoch: 1}",
                ],
                tmp_path / "run",
            )
        )
    assert not (tmp_path / "run" / "metrics.json").exists()  # its outputs were being rewritten


# 3. Pixels that are not what the model was trained on


def test_a_divisor_that_whitens_a_16_bit_scene_is_refused_with_the_share(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(2000, 12000, (32, 32, 3), dtype=np.uint16)
    path = write_mosaic(tmp_path / "analytic.tif", [np.dstack([pixels, pixels[..., :1]])] * 4, cols=2)
    with pytest.raises(SceneError, match=r"scale_16bit=1 takes 100% of the sampled pixels to white.*scale_16bit=4"):
        check_range(Scene.open(path, JPG, scale_16bit=1))
    assert "to black" in check_range(Scene.open(path, JPG, scale_16bit=100000))
    assert check_range(Scene.open(path, JPG, scale_16bit=48)) is None


# 4. Geometry that is where the scene is


def test_a_raster_without_a_geotransform_is_refused(tmp_path: Path) -> None:
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "photo.png")
    with pytest.raises(SceneError, match=r"photo\.png: no geotransform"):
        Scene.open(tmp_path / "photo.png", JPG, crs=CRS)


@pytest.mark.parametrize(("stride", "edge"), [(16, "pad"), (24, "pad"), (32, "pad"), (20, "skip")])
def test_cells_tile_the_scene_once_whatever_the_stride(scene: Path, stride: int, edge: str) -> None:
    opened = Scene.open(scene, JPG)
    grid = make_grid(opened, Tiling(32, stride, edge=edge))
    cells = [(r, c) for r in range(grid.rows) for c in range(grid.cols)]
    frame = cells_frame(opened, grid, cells)
    scene_area = opened.width * opened.height * 9 / 1e4  # 3 m pixels, in hectares
    union = shapely.union_all(frame.geometry.to_numpy()).area
    assert hectares(frame).sum() == pytest.approx(union / 1e4)  # no overlap between cells
    assert hectares(frame).sum() <= scene_area + 1e-9  # nothing outside the scene counted
    if edge == "pad":
        assert hectares(frame).sum() == pytest.approx(scene_area)  # every pixel in one cell


def test_a_south_up_scene_gives_counter_clockwise_rings(tmp_path: Path, trained_run: Path, tiny_root: Path) -> None:
    chip = np.asarray(Image.open(tiny_root / "test-jpg" / "test_0.jpg").convert("RGB"))
    path = tmp_path / "south_up.tif"
    profile = {
        "driver": "GTiff",
        "width": 32,
        "height": 32,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS,
        "transform": Affine(3.0, 0, 500_000.0, 0, 3.0, 9_650_000.0),
    }  # rows run north
    with rasterio.open(path, "w", **profile) as raster:
        raster.write(chip.transpose(2, 0, 1))
    map_scenes(map_cfg(tmp_path, best_of(trained_run), path))
    (feature,) = json.loads((tmp_path / "map" / "south_up_chips.geojson").read_text())["features"]
    assert shapely.LinearRing(feature["geometry"]["coordinates"][0]).is_ccw


# 5. Numbers that are not numbers


def test_a_combination_with_a_nan_or_a_wrong_shape_is_refused_naming_the_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    targets = rng.random((CHIPS, NUM_LABELS)) < 0.3
    dirs = [
        make_member(tmp_path, "m", f, rng.random((CHIPS, NUM_LABELS)), targets, rng.random((TEST_CHIPS, 17)))
        for f in range(FOLDS)
    ]
    run_ensemble(dirs, tmp_path / "ensemble", method="mean")
    path = tmp_path / "ensemble" / "combination.json"
    saved = json.loads(path.read_text())
    for key, bad, message in [
        ("weights", [[float("nan")] * 17], r"'weights' holds values that are not finite"),
        ("weights", [[1.0] * 16], r"'weights' has shape \(1, 16\), not \(1, 17\)"),
        ("intercept", "zero", r"'intercept' must be numbers of shape"),
        ("models", [], r"'models' must list"),
    ]:
        path.write_text(json.dumps({**saved, key: bad}))  # as a hand edit or another tool would leave it
        with pytest.raises(ValueError, match=rf"combination\.json: {message}"):
            Predictor.of(None, str(tmp_path / "ensemble"), "none")
    path.write_text(json.dumps({**saved, "checkpoints": {}}))
    with pytest.raises(ValueError, match=r"no checkpoints for the model\(s\) \['m@32px'\]"):
        Predictor.of(None, str(tmp_path / "ensemble"), "none")
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_json(tmp_path / "scores.json", {"f2": float("nan")})  # never a bare NaN in a JSON file


# 6. An empty value is not the default


def test_empty_paths_are_refused_not_taken_for_null(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.root='': an empty path; null \(not an empty string\) means the"):
        Layout.of("", tmp_path / "synthetic")
    from amazon_cls.runtime.schema import problems_of

    cfg = compose_config("predict", ["ckpt=", "input=/tmp", "output=o.csv", "thresholds="], tmp_path / "run")
    assert problems_of(cfg, schema_of("predict")) == [
        "ckpt='': an empty path; null (not an empty string) means none",
        "thresholds='': an empty path; null (not an empty string) means none",
    ]


# 7. The label rules are checked


def test_the_check_notes_rows_that_break_the_label_rules(tmp_path: Path, tiny_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    labels = pd.read_csv(root / "train_v2.csv")
    labels.loc[3, "tags"] = "clear haze partly_cloudy cloudy primary"
    labels.loc[5, "tags"] = "cloudy primary road"
    labels.to_csv(root / "train_v2.csv", index=False)
    _, _, problems, bad = check_dataset(Layout(root, JPG))
    assert not problems.fatal and not bad  # notes: the competition's data break no rule, yours might
    several = problems.notes["row with several weather tags"]
    assert several == [f"{root / 'train_v2.csv'} row 5 (train_3): clear cloudy haze partly_cloudy"]
    cloudy = problems.notes["cloudy row with land tags"]
    assert any("row 7 (train_5): primary road" in note for note in cloudy)


# 8. Temporaries of killed writes are removed by every command


def test_predict_removes_the_temporaries_a_killed_write_left(
    tmp_path: Path, trained_run: Path, tiny_root: Path
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".submission.csv.{atomic.HOST}-{int(dead.stdout)}.x1y2z3.tmp"
    stale.write_bytes(b"half")
    output = tmp_path / "submission.csv"
    overrides = [
        f"ckpt={best_of(trained_run)}",
        f"input={tiny_root / 'test-jpg'}",
        f"output={output}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
    ]
    predict(compose_config("predict", overrides, tmp_path / "hydra"))
    assert not stale.exists() and (tmp_path / "submission.csv").is_file()


# 11. A write that fails is one line naming the file


def test_a_failed_write_names_the_file_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.csv"
    target.write_text("previous")

    def full_disk(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError) as raised:
        atomic.write_text(target, "new")
    assert str(raised.value) == f"{target}: cannot write (No space left on device); the previous file is unchanged"
    assert target.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


# 12. Damaged inputs are named where they are met first


def test_resuming_from_a_truncated_checkpoint_names_it(tmp_path: Path, tiny_root: Path) -> None:
    args = [*tiny_overrides(tiny_root), *SHORT]
    train(compose_train(args, tmp_path / "run"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:5000])
    (tmp_path / "run" / "metrics.json").unlink()
    with pytest.raises(CheckpointError, match=r"last\.ckpt: not a readable checkpoint"):
        train(compose_train([*args, "ckpt_path=last"], tmp_path / "run"))


@pytest.mark.parametrize("cut", ["mid-row", "row boundary"])
def test_a_member_file_cut_after_it_finished_is_named(tmp_path: Path, cut: str) -> None:
    rng = np.random.default_rng(1)
    targets = rng.random((CHIPS, NUM_LABELS)) < 0.3
    dirs = [
        make_member(tmp_path, "m", f, rng.random((CHIPS, NUM_LABELS)), targets, rng.random((TEST_CHIPS, 17)))
        for f in range(FOLDS)
    ]
    folder = RunFolder(dirs[1])
    folder.write_metrics(json.loads(folder.metrics.read_text()), [folder.val_probs, folder.test_probs])
    text = folder.val_probs.read_text()
    lines = text.splitlines(keepends=True)
    folder.val_probs.write_text(text[: len(text) // 2] if cut == "mid-row" else "".join(lines[: len(lines) // 2]))
    with pytest.raises(RunDamaged, match=rf"{folder.metrics} says the run finished, but {folder.val_probs} changed"):
        run_ensemble(dirs, tmp_path / "out")


def test_a_truncated_scene_is_named_when_it_opens(tmp_path: Path, scene: Path) -> None:
    cut = tmp_path / "cut.tif"
    cut.write_bytes(scene.read_bytes()[: scene.stat().st_size * 2 // 3])
    with pytest.raises(SceneError, match=r"cut\.tif: (damaged or truncated|not a raster GDAL can read)"):
        Scene.open(cut, JPG)


def test_a_scene_that_is_nodata_everywhere_is_named(tmp_path: Path) -> None:
    path = write_mosaic(tmp_path / "empty.tif", [np.zeros((32, 32, 3), np.uint8)] * 4, cols=2)
    with pytest.raises(SceneError, match=r"empty\.tif: no chip has min_valid=0\.5 of valid pixels"):
        make_grid(Scene.open(path, JPG), Tiling(32, 32))


# 13. Reasons that say what is wrong


def test_reasons_name_the_real_problem(tmp_path: Path) -> None:
    from amazon_cls.blending.members import run_folders

    (tmp_path / "empty_sweep").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty_sweep: no run folders in it"):
        run_folders(str(tmp_path / "empty_sweep"), None)
    (tmp_path / "labels.csv").write_text("image_name,tags\ntrain_0,clear primary,\ntrain_1,haze primary,\n")
    with pytest.raises(DataError, match=r"labels\.csv: its rows have one field more than its header"):
        read_labels_csv(tmp_path / "labels.csv")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan_combination", "combination.json: 'weights' holds values that are not finite"),
        ("cut_scene", "damaged or truncated"),
        ("missing_member_output", "says the run finished, but"),
    ],
)
def test_commands_end_such_faults_with_one_line_and_status_1(
    tmp_path: Path, trained_run: Path, scene: Path, case: str, message: str
) -> None:
    if case == "nan_combination":
        run_ensemble([trained_run], tmp_path / "ensemble")
        path = tmp_path / "ensemble" / "combination.json"
        saved = json.loads(path.read_text())
        path.write_text(json.dumps({**saved, "weights": [[float("nan")] * 17]}))
        command = ["amazon_cls.predict", f"ensemble={tmp_path / 'ensemble'}", f"input={scene.parent}", "output=o.csv"]
    elif case == "cut_scene":
        (tmp_path / "cut.tif").write_bytes(scene.read_bytes()[: scene.stat().st_size * 2 // 3])
        command = [
            "amazon_cls.map",
            f"ckpt={best_of(trained_run)}",
            f"scene={tmp_path / 'cut.tif'}",
            f"output_dir={tmp_path / 'map'}",
            "chip_size=32",
        ]
    else:
        member = tmp_path / "member"
        shutil.copytree(trained_run, member)
        (member / "test_probs.csv").unlink()
        command = ["amazon_cls.ensemble", f"runs=[{member}]", f"output_dir={tmp_path / 'out'}"]
    result = subprocess.run(
        [sys.executable, "-m", *command, f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and message in output and "Traceback" not in output, output[-2000:]


@needs_tmpfs
def test_a_checkpoint_write_onto_a_full_disk_is_one_line_and_leaves_no_record(tmp_path: Path, tiny_root: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "amazon_cls.train", *tiny_overrides(tiny_root), f"hydra.run.dir={disk / 'run'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1, output[-3000:]
        assert "Traceback" not in output and "enforce fail" not in output, output[-3000:]
        written = r"\.ckpt: cannot write \(No space left on device\); (nothing was written|the previous)"
        assert re.search(written, output), output[-3000:]
        assert not (disk / "run" / "metrics.json").exists()
        for left in (disk / "run" / "checkpoints").glob("*.ckpt"):  # whatever is left loads
            torch.load(left, weights_only=True)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# 14. A command's outputs are a set: a full disk keeps the previous one (a real filesystem)


@needs_tmpfs
@pytest.mark.parametrize("leave", [0, 3000])  # nothing fits, or the first small file does
def test_predict_map_and_ensemble_keep_their_previous_outputs_on_a_full_disk(
    tmp_path: Path, trained_run: Path, tiny_root: Path, scene: Path, leave: int
) -> None:
    quiet = ["num_workers=0", "trainer.enable_progress_bar=false"]
    with small_disk(tmp_path / "disk") as disk:
        inputs = [f"ckpt={best_of(trained_run)}", f"input={tiny_root / 'test-jpg'}", f"output={disk / 'sub.csv'}"]
        predicting = lambda *extra: predict(compose_config("predict", [*inputs, *quiet, *extra], tmp_path / "p"))  # noqa: E731
        mapping = lambda *extra: map_scenes(map_cfg(disk, best_of(trained_run), scene, *extra))  # noqa: E731
        predicting()
        mapping()
        run_ensemble([trained_run], disk / "ensemble")
        fails_on_a_full_disk(disk, lambda: predicting("tta=none"), leave)
        fails_on_a_full_disk(disk, lambda: mapping("tta=none"), leave)
        fails_on_a_full_disk(disk, lambda: run_ensemble([trained_run], disk / "ensemble", method="mean"), leave)
        (disk / "filler").unlink()
        assert mapping() == {}  # the earlier map is still finished


# 15. A failed write is one line, wherever it happens and whatever the cause


@needs_tmpfs
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("read_only_disk", r"/sub(_probs)?\.csv: cannot write \(Read-only file system\)"),
        ("run_folder_on_a_full_disk", r"\.hydra/config\.yaml: cannot write \(No space left on device\)"),
        ("a_file_where_a_folder_goes", r"/map/\S+: cannot write \(\S+/taken is a file, not a folder\)"),
        ("study_database_on_a_full_disk", r"/study\.db: cannot write \(database or disk is full\)"),
    ],
)
def test_a_failed_write_is_one_line_and_status_1_whatever_the_cause(
    tmp_path: Path, trained_run: Path, tiny_root: Path, scene: Path, case: str, message: str
) -> None:
    disk, hydra_dir = tmp_path / "disk", tmp_path / "hydra"
    options = "size=1m,ro" if case == "read_only_disk" else "size=1m"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], check=True)
    try:
        if case != "read_only_disk":
            fill(disk)
        if case == "read_only_disk":
            command = ["amazon_cls.predict", f"ckpt={best_of(trained_run)}", f"input={tiny_root / 'test-jpg'}"]
            command += [f"output={disk / 'sub.csv'}", "num_workers=0"]
        elif case == "run_folder_on_a_full_disk":
            command, hydra_dir = (
                ["amazon_cls.eda", f"data.root={tiny_root}", f"output_dir={tmp_path / 'eda'}"],
                disk / "run",
            )
        elif case == "a_file_where_a_folder_goes":
            (tmp_path / "taken").write_text("a file")
            command = ["amazon_cls.map", f"ckpt={best_of(trained_run)}", f"scene={scene}", "chip_size=32"]
            command += [f"output_dir={tmp_path / 'taken' / 'map'}", "num_workers=0"]
        else:
            command = ["amazon_cls.tune", f"study_dir={disk / 'study'}", f"data.root={tiny_root}", "model=tiny"]
        result = subprocess.run(
            [sys.executable, "-m", *command, f"hydra.run.dir={hydra_dir}"], cwd=ROOT, capture_output=True, text=True
        )
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and re.search(message, errors[0]), output[-3000:]
