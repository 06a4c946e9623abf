"""A large area as shards: blocks of the whole grid, each monitored alone, then merged. The merge
must equal one run over the whole area (the same alert cells, one polygon where an alert crosses a
block's border, the same region totals and history), and bad merges are refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from amazon_cls.geo.change.monitoring import merging, monitor
from amazon_cls.geo.change.shards import block_of
from amazon_cls.geo.config import MonitorConfig
from amazon_cls.runtime.schema import check_config
from tests.geo.test_monitor import CHIP, DATES, LAYOUTS, LOADER, ORIGIN, PIXEL, Oracle, monitor_cfg, write_series
from tests.helpers import PRINTED_TOLERANCE, compose_config, run_module

FIELDS = {"clear", "primary", "agriculture"}
# An L of fields over three of the four blocks of the 4 x 4 grid (blocks of 2 x 2 cells): (0, 1)
# and (1, 1) in block 0, (0, 2) in block 1, (2, 1) in block 2; a mine inside block 3.
CROSSING = {
    (0, 1): FIELDS,
    (0, 2): FIELDS,
    (1, 1): FIELDS,
    (2, 1): FIELDS,
    (3, 3): {"clear", "primary", "artisinal_mine"},
}


@pytest.mark.parametrize(("rows", "cols", "count", "shape"), [(4, 4, 4, (2, 2)), (4, 9, 6, (2, 3)), (9, 4, 6, (3, 2))])
def test_the_blocks_tile_the_grid_as_near_square_as_the_count_allows(rows, cols, count, shape) -> None:
    blocks = [block_of(rows, cols, shard, count) for shard in range(count)]
    covered = sum(block.mask((rows, cols)).astype(int) for block in blocks)
    assert (covered == 1).all()  # every cell in exactly one block
    assert (len({b.rows for b in blocks}), len({b.cols for b in blocks})) == shape
    assert block_of(rows, cols, None, 1).cells() == [(r, c) for r in range(rows) for c in range(cols)]
    with pytest.raises(ValueError, match=r"num_shards=25: 5 x 5 blocks do not fit a grid of 4 x 4 cells"):
        block_of(4, 4, 0, 25)


def properties(folder: Path, name: str) -> list[dict]:
    return [f["properties"] for f in json.loads((folder / name).read_text())["features"]]


def cell_alerts(folder: Path) -> list[tuple]:
    drop = ("alert_id",)  # named per run; the cells, types, dates and probabilities must agree
    return sorted(
        tuple(sorted((k, v) for k, v in c.items() if k not in drop)) for c in properties(folder, "alert_cells.geojson")
    )


@pytest.fixture()
def crossing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LAYOUTS, DATES[1], CROSSING)
    monkeypatch.setitem(LAYOUTS, DATES[2], {**CROSSING, (3, 0): {"cloudy"}})


def regions_file(tmp_path: Path) -> Path:
    """Two regions split along the column border between blocks (x = 2 cells east of the origin)."""
    cell = CHIP * PIXEL
    border = ORIGIN[0] + 1.5 * cell  # through cells of column 1 and their fields
    boxes = [
        shapely.box(ORIGIN[0] - 1000, ORIGIN[1] - 5 * cell, border, ORIGIN[1] + 1000),
        shapely.box(border, ORIGIN[1] - 5 * cell, ORIGIN[0] + 5 * cell, ORIGIN[1] + 1000),
    ]
    path = tmp_path / "regions.geojson"
    gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=boxes, crs="EPSG:32721").to_file(path, driver="GeoJSON")
    return path


def merge_cfg(tmp_path: Path, shards: list[Path], output_dir: Path, *extra: str):
    overrides = [f"merge=[{','.join(map(str, shards))}]", f"output_dir={output_dir}", "operating_point=f2", *extra]
    return compose_config("monitor", overrides, tmp_path / "hydra")


def test_shards_merged_are_one_run_over_the_whole_area(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle, crossing: None
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    regions = [f"regions={regions_file(tmp_path)}", "region_key=name"]
    whole = monitor(monitor_cfg(tmp_path, scenes, f"output_dir={tmp_path / 'whole'}", *regions), LOADER, oracle)
    shards = [tmp_path / f"shard_{k}" for k in range(4)]
    pieces = []
    for k, folder in enumerate(shards):
        monitor(monitor_cfg(tmp_path, scenes, f"output_dir={folder}", f"shard={k}", "num_shards=4"), LOADER, oracle)
        pieces += [p for p in properties(folder, "alerts.geojson") if p["type"] == "agriculture"]
        assert len(pd.read_csv(folder / "cells.csv")) == 4  # its block's cells alone
        assert f"Shard {k} of 4" in (folder / "report.md").read_text()
    assert sorted(p["cells"] for p in pieces) == [1, 1, 2]  # the L cut by the blocks' borders
    calls = oracle.calls
    monitor(monitor_cfg(tmp_path, scenes, f"output_dir={shards[2]}", "shard=2", "num_shards=4"), LOADER, oracle)
    assert oracle.calls == calls  # a finished shard run again (an array resubmitted): nothing done
    cfg = merging(merge_cfg(tmp_path, shards, tmp_path / "merged", *regions))
    merged = monitor(cfg, LOADER, oracle)
    assert oracle.calls == calls  # gathered from the shards, nothing predicted again
    assert cell_alerts(tmp_path / "merged") == cell_alerts(tmp_path / "whole") != []
    fields = [p for p in properties(tmp_path / "merged", "alerts.geojson") if p["type"] == "agriculture"]
    assert [p["cells"] for p in fields] == [4]  # one polygon across the borders
    for name in ("regions.csv", "history.csv", "cells.csv"):
        assert pd.read_csv(tmp_path / "merged" / name).equals(pd.read_csv(tmp_path / "whole" / name)), name
    assert (merged["alerts"], merged["area_ha"], merged["hidden"]) == (
        whole["alerts"],
        whole["area_ha"],
        whole["hidden"],
    )
    assert "Joined from 4 shards" in (tmp_path / "merged" / "report.md").read_text()
    again = monitor(merging(merge_cfg(tmp_path, shards, tmp_path / "merged", *regions)), LOADER, oracle)
    assert again == {**merged, "predicted": 0, "reused": 3}  # the same merge again: its record read back, nothing done


def test_bad_merges_are_refused_by_name_before_any_work(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:2])
    shards = [tmp_path / f"shard_{k}" for k in range(4)]
    for k, folder in enumerate(shards):
        monitor(monitor_cfg(tmp_path, scenes, f"output_dir={folder}", f"shard={k}", "num_shards=4"), LOADER, oracle)
    other = tmp_path / "other_0"
    monitor(
        monitor_cfg(tmp_path, scenes, f"output_dir={other}", "shard=0", "num_shards=4", "min_valid=0.9"), LOADER, oracle
    )
    whole = tmp_path / "whole"
    monitor(monitor_cfg(tmp_path, scenes, f"output_dir={whole}"), LOADER, oracle)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "merged"
    refused = {
        "overlap": ([*shards, shards[0]], r"shard_0 \(shard 0 of 4: rows 0-1, cols 0-1\) and .*shard_0 .* overlap"),
        "missing": (shards[:3], r"the shards cover 12 of the grid's 16 cells \(shards \[0, 1, 2\] of num_shards=4\)"),
        "settings": ([other, *shards[1:]], r"shard_1 was run with min_valid=0.5, .*other_0 with min_valid=0.9"),
        "not a run": (
            [tmp_path / "empty", *shards],
            r"empty holds no finished monitor run \(monitor.json is missing\)",
        ),
        "whole": ([whole, *shards], r"whole is a run over the whole grid, not a shard"),
    }
    for case, (given, message) in refused.items():
        with pytest.raises(ValueError, match=message):
            merging(merge_cfg(tmp_path, given, out))
        assert not out.exists(), case  # refused before any work
    scene = next((shards[1] / "predictions").glob("*_probs.csv"))
    scene.write_text(scene.read_text() + "\n")
    with pytest.raises(ValueError, match=r"shard_1: .*_probs.csv changed since .*; run that shard again"):
        merging(merge_cfg(tmp_path, shards, out))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["shard=4", "num_shards=4"], r"shard=4 must be below num_shards=4"),
        ([], r"scenes: give the series' rasters or STAC items \(or merge="),
        (["merge=[{tmp}]", "scenes=[{tmp}]"], r"merge: the shards' records give the scenes, the model and the chips"),
        (["merge=[{tmp}]", "ckpt={tmp}/model.ckpt"], r"merge: the shards' records give"),
    ],
)
def test_shard_and_merge_settings_are_checked_with_the_config(tmp_path: Path, overrides, message) -> None:
    (tmp_path / "model.ckpt").write_bytes(b"")
    cfg = compose_config("monitor", [o.format(tmp=tmp_path) for o in overrides], tmp_path / "hydra")
    with pytest.raises(ValueError, match=message):
        check_config(cfg, MonitorConfig)


def test_a_joblib_multirun_of_shards_merges_into_the_whole_run(
    tmp_path: Path, chips_by_tags: dict, trained_run: Path
) -> None:
    """Through the commands as a user runs them: four shards as a Hydra multirun on the joblib
    launcher (two at a time), then the merge; a real model, so the probabilities are compared."""
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    common = [
        f"ckpt={next((trained_run / 'checkpoints').glob('best-*.ckpt'))}",
        f"chip_size={CHIP}",
        "operating_point=f2",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    series = f"scenes=[{','.join(map(str, scenes))}]"
    run_module("amazon_cls.monitor", *common, series, f"output_dir={tmp_path / 'whole'}")
    run_module(
        "amazon_cls.monitor",
        "-m",
        *common,
        series,
        "shard=0,1,2,3",
        "num_shards=4",
        f"output_dir={tmp_path}/shard_${{shard}}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    shards = ",".join(str(tmp_path / f"shard_{k}") for k in range(4))
    run_module("amazon_cls.monitor", *common[1:], f"merge=[{shards}]", f"output_dir={tmp_path / 'merged'}")
    merged, whole = (pd.read_csv(tmp_path / name / "history.csv") for name in ("merged", "whole"))
    assert merged[["date", "row", "col", "tags"]].equals(whole[["date", "row", "col", "tags"]]) and len(whole) == 48
    probs = [c for c in whole.columns if c.startswith("p_")]
    np.testing.assert_allclose(merged[probs].to_numpy(), whole[probs].to_numpy(), atol=PRINTED_TOLERANCE, rtol=1e-5)
    assert cell_alerts(tmp_path / "merged") == cell_alerts(tmp_path / "whole")
