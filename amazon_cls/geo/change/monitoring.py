"""The whole of `monitor`: the series read onto one grid and predicted (reusing dates predicted
before; a shard: its block of the grid; a merge: gathered from the shards), the operating point,
the alerts, their polygons and region totals, and the outputs, with `monitor.json` last (the same
command again does no work)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from amazon_cls.core.labels import LABEL_INDEX, NUM_LABELS
from amazon_cls.geo.change import outputs
from amazon_cls.geo.change.alerts import Rules, States, find_alerts, states_of
from amazon_cls.geo.change.operating import operating_point
from amazon_cls.geo.change.polygons import alert_cells, located, merged, read_regions, region_totals
from amazon_cls.geo.change.series import Dated, Series, assemble, dated_scenes
from amazon_cls.geo.change.shards import SHARD_KEYS, Block, block_of, gathered, merged_config
from amazon_cls.geo.config import OPERATING_POINTS
from amazon_cls.geo.grid import Grid
from amazon_cls.geo.mosaic import mosaic
from amazon_cls.geo.pipeline import (
    MODEL_KEYS,
    SCENE_KEYS,
    as_data,
    masks_of,
    open_scene,
    predict_scene,
    settings_of,
    tiling_of,
)
from amazon_cls.geo.scene import Footprint, check_range
from amazon_cls.geo.sensors import SENSORS
from amazon_cls.geo.stac import is_stac, stac_scenes
from amazon_cls.inference.predictor import PredictionRun, Predictor
from amazon_cls.runtime.command import is_rank_zero
from amazon_cls.store.atomic import remove_stale_temporaries, write_csv
from amazon_cls.store.done import Done
from amazon_cls.store.monitor_folder import MonitorFolder
from amazon_cls.store.tables import probability_frame

log = logging.getLogger(__name__)
# What changes the predictions of a date (reused when they are the same) and what changes the alerts.
PREDICTION_KEYS = (*MODEL_KEYS, *SCENE_KEYS, "grid", *SHARD_KEYS)
# What the shards of one area share: what their probabilities rest on but the block (`merge` checks).
SHARED_KEYS = (*MODEL_KEYS, *SCENE_KEYS, "grid", "scenes", "dates")
ALERT_KEYS = (
    "thresholds",
    "operating_point",
    "alert_precision",
    "change_labels",
    "unobservable",
    "min_area_ha",
    "regions",
    "region_key",
    "evidence",
    "dates",
    "basemap",
)


def monitor(cfg: DictConfig, prediction: PredictionRun, predictor: Predictor) -> dict[str, Any]:
    """Everything `python -m amazon_cls.monitor` does once its config is checked; the summary (rank 0)."""
    folder = MonitorFolder(Path(cfg.output_dir))
    remove_stale_temporaries(folder.path)
    regions = read_regions(cfg.regions, cfg.region_key) if cfg.regions else None  # a bad file is named now
    footprint, grid, dated = read_series(cfg, predictor)
    block = block_of(grid.rows, grid.cols, cfg.shard, cfg.num_shards)
    dated = [dataclasses.replace(item, grid=within(item.grid, block)) for item in dated]
    rules, operating = alert_rules(cfg, predictor)
    warning = predictor.demo_warning("these scenes")
    if warning and is_rank_zero():
        log.warning("%s", warning)
    settings = settings_of(cfg, PREDICTION_KEYS)
    inputs = predictor.inputs() + ([str(cfg.grid)] if cfg.grid else [])  # what a date's probabilities rest on
    record = {"settings": {**settings, **settings_of(cfg, (*ALERT_KEYS, "scenes", "merge"))}}
    masks = [d.scene.mask for d in dated if d.scene.mask]
    regions_file = [str(cfg.regions)] if cfg.regions else []  # the totals rest on it; no probability does
    read = [*[d.scene.path for d in dated], *masks, *inputs, *regions_file]  # every file the run reads
    done = Done(folder.record)
    if before := done.finished(folder.outputs(), record, read):
        if is_rank_zero():
            log.info("%s: monitored before from these scenes with these settings; nothing to do", folder.path)
        return {**before, "predicted": 0, "reused": before["scenes"]}  # this run's counts: nothing predicted

    def predict(item: Dated) -> pd.DataFrame | None:  # None on other ranks
        if cfg.merge:
            return gathered(list(cfg.merge), item.date, item.scene.path)
        if not item.grid.kept.any():  # a shard's block this date does not reach
            return probability_frame([], np.zeros((0, NUM_LABELS)))
        if is_rank_zero():
            kept, total = int(item.grid.kept.sum()), item.grid.kept.size
            log.info("Predicting %s (%s) on the grid: %d of %d chips", item.scene.path, item.date, kept, total)
        return predict_scene(predictor, prediction, item.scene, item.grid, cfg.compile)

    series, predicted = assemble(footprint, grid, dated, predict, folder, settings, inputs, block)
    if series is None:
        return {}  # another rank writes
    states = states_of(series.probs, series.read, rules)
    cells = alert_cells(find_alerts(states, rules), grid, footprint)
    polygons = located(merged(cells, grid, cfg.min_area_ha), regions, cfg.region_key)  # gives cells their alert_id
    cells = add_probabilities(cells, series, rules.change)
    summary = {
        **record,
        "scenes": len(dated),
        "predicted": predicted,
        "reused": len(dated) - predicted,
        "dates": [day.isoformat() for day in series.dates],
        "predictor": predictor.describe(),
        "provenance": predictor.provenance(),
        "warning": warning,
        "grid": {"rows": grid.rows, "cols": grid.cols, "crs": footprint.crs.to_string(), "cell_px": grid.step},
        "block": block.as_data(),
        "hidden": hidden_counts(dated, series, states, block),
        "cell_alerts": len(cells),
        "alerts": polygons["confidence"].value_counts().to_dict(),
        "area_ha": float(polygons.loc[polygons["confidence"] != "retracted", "area_ha"].sum()),
        "operating_point": operating.to_dict(orient="records"),
    }
    compared = operating_points_compared(cfg, predictor, series, polygons)
    with done.rewriting():  # a failed write keeps the previous run's outputs, and its record
        written, totals = write_alerts(folder, series, states, polygons, cells, regions, cfg.region_key)
        evidence = write_evidence(folder, polygons, cells, series, cfg.evidence)
        outputs.write_web_map(folder, polygons, series, evidence, cfg.basemap)
        report = outputs.Report(summary, operating, outputs.with_dates(polygons, series), evidence, totals, compared)
        outputs.write_report(folder.report, report)
    written += [folder.report, folder.web_map, *(folder.evidence(alert_id) for alert_id in evidence)]
    return done.write(written, summary, read)


def merging(cfg: DictConfig) -> DictConfig:
    """The config a run works with: with `merge=[...]`, the shards' model, scenes and chips (each
    shard checked first), the merge's own alert settings; else the config as given."""
    return merged_config(cfg, SHARED_KEYS) if cfg.merge else cfg


def read_series(cfg: DictConfig, predictor: Predictor) -> tuple[Footprint, Grid, list[Dated]]:
    """Every scene opened as the model's data source reads one, dated and put on one grid; each
    problem refused before any work, each doubtful scale warned about."""
    source = predictor.input_source()
    paths, dates, masks = scene_list(cfg)
    mask_of = dict(zip(paths, masks, strict=True))
    opened = lambda path: open_scene(cfg, path, source, mask_of[path])  # noqa: E731
    footprint, grid, dated = dated_scenes(
        paths,
        dates,
        source,
        tiling_of(cfg, predictor),
        cfg.grid,
        opened,
        allow_future_dates=cfg.allow_future_dates,
    )
    for warning in filter(None, (check_range(item.scene) for item in dated)):
        log.warning("%s", warning)
    return footprint, grid, dated


def scene_list(cfg: DictConfig) -> tuple[list[str], list[str] | None, list[str | None]]:
    """The scenes, their dates (None: from each file) and their masks: as given, or from STAC items."""
    if not is_stac(list(cfg.scenes)):
        return list(cfg.scenes), as_data(cfg.dates), masks_of(cfg, list(cfg.scenes))
    if cfg.dates is not None or cfg.masks is not None:
        raise ValueError(
            f"scenes={cfg.scenes[0]}: its STAC items give the dates and masks; leave dates= and masks= out"
        )
    found, folder = stac_scenes(cfg.scenes[0], SENSORS[cfg.sensor]), MonitorFolder(Path(cfg.output_dir))
    paths = [one_raster(f.images, folder.tiles(f.day)) for f in found]
    masks = [one_raster(f.masks, folder.tiles(f.day, mask=True)) if f.masks else None for f in found]
    return paths, [f.day.isoformat() for f in found], masks


def one_raster(files: list[str], vrt: Path) -> str:
    """A date's one file, or its tiles as one raster (a VRT in the output folder)."""
    return files[0] if len(files) == 1 else str(mosaic(files, vrt))


def write_alerts(
    folder: MonitorFolder,
    series: Series,
    states: np.ndarray,
    polygons: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    regions: gpd.GeoDataFrame | None,
    region_key: str | None,
) -> tuple[list[Path], pd.DataFrame | None]:
    """The alert layers, the history of every cell, the timeline and, with regions, their totals
    (the files written, and the totals)."""
    outputs.write_vectors(folder, polygons, cells, series)
    outputs.write_history(folder.history, series, states)
    write_csv(folder.cells, outputs.cells_table(series, states, cells))
    outputs.write_timeline(folder.timeline, polygons, series)
    written = [
        folder.alerts_geojson,
        folder.alerts_gpkg,
        folder.alert_cells,
        folder.alerts_style,
        folder.alert_cells_style,
    ]
    written += [folder.history, folder.cells]
    written += [folder.timeline, *outputs.write_chips(folder, series)]
    totals = None
    if regions is not None:
        totals = region_totals(polygons, regions, region_key)
        totals["first_seen"] = [series.dates[int(t)].isoformat() for t in totals["first_seen"]]
        written.append(write_csv(folder.regions, totals))
    return written, totals


def alert_rules(cfg: DictConfig, predictor: Predictor, mode: str | None = None) -> tuple[Rules, pd.DataFrame]:
    """What raises an alert: each change label's threshold at the operating point (`mode`, else the
    config's), the labels that hide the ground; and the operating point's table (each label's
    threshold, its out-of-fold precision and recall)."""
    change, mode = tuple(cfg.change_labels), mode or cfg.operating_point
    oof = (None, None)
    if mode == "precision":
        oof = predictor.out_of_fold(", which an operating point by precision is fitted on; give operating_point=f2")
    thresholds, operating = operating_point(predictor.thresholds, *oof, change, mode, cfg.alert_precision)
    return Rules(thresholds, change, tuple(cfg.unobservable)), operating


def operating_points_compared(
    cfg: DictConfig, predictor: Predictor, series: Series, polygons: gpd.GeoDataFrame
) -> pd.DataFrame:
    """What each operating point would alert on this very run, from its kept predictions: alerts
    and alerted cell area per type (retracted ones not counted). The run's own point is its
    `polygons`; a point the model cannot take (precision without out-of-fold predictions) is
    left out."""
    rows = []
    for mode in OPERATING_POINTS:
        if mode != cfg.operating_point:
            try:
                rules, _ = alert_rules(cfg, predictor, mode)
            except ValueError:
                continue
            states = states_of(series.probs, series.read, rules)
            cells = alert_cells(find_alerts(states, rules), series.grid, series.footprint)
            polygons_at = merged(cells, series.grid, cfg.min_area_ha)
        else:
            polygons_at = polygons
        counted = polygons_at[polygons_at["confidence"] != "retracted"]
        for kind, group in [*counted.groupby("type"), ("all", counted)]:
            rows.append(
                {"operating_point": mode, "type": kind, "alerts": len(group), "area_ha": group["area_ha"].sum()}
            )
    return pd.DataFrame(rows, columns=["operating_point", "type", "alerts", "area_ha"])


def write_evidence(
    folder: MonitorFolder, polygons: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, series: Series, count: int
) -> list[str]:
    """Before-and-after images of the `count` largest alerts that have a date of forest before them."""
    written = []
    for _, alert in polygons.sort_values("area_ha", ascending=False).head(count).iterrows():
        if alert["last_forest"] >= 0:
            members = cells[cells["alert_id"] == alert["alert_id"]]
            outputs.write_evidence(folder.evidence(alert["alert_id"]), alert, members, series)
            written.append(alert["alert_id"])
    return written


def add_probabilities(cells: gpd.GeoDataFrame, series: Series, change: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The change labels' probabilities of each cell alert before (last_forest) and after (first_seen)."""
    columns = [LABEL_INDEX[label] for label in change]
    cell, after, before = cells["cell"].to_numpy(), cells["first_seen"].to_numpy(), cells["last_forest"].to_numpy()
    for label, column in zip(change, columns, strict=True):
        cells[f"after_{label}"] = np.round(series.probs[after, cell, column].astype(float), 4)
        cells[f"before_{label}"] = np.round(series.probs[np.maximum(before, 0), cell, column].astype(float), 4)
    return cells


def within(grid: Grid, block: Block) -> Grid:
    """The grid with only the block's chips kept (a shard predicts those alone)."""
    inside = block.mask(grid.kept.shape)
    masked = None if grid.masked is None else grid.masked & inside
    return dataclasses.replace(grid, kept=grid.kept & inside, masked=masked)


def hidden_counts(dated: list[Dated], series: Series, states: States, block: Block) -> dict[str, int]:
    """The cell-dates of the block each source hid: nodata (or outside a scene), the cloud masks,
    the model's own unobservable labels (cloud)."""
    inside = block.mask((series.grid.rows, series.grid.cols))
    masked = sum(int(d.grid.masked.sum()) for d in dated if d.grid.masked is not None)
    unread = sum(int((~d.grid.kept & inside).sum()) for d in dated)
    return {
        "nodata": unread - masked,
        "mask": masked,
        "model": int((series.read & ~states.observable).sum()),
    }
