"""What `monitor` writes, each file atomically, `monitor.json` last:

- `alerts.geojson, alerts.gpkg`: merged alert polygons: alert_id, type, labels, first_seen, last_forest,
  confidence, area_ha, cells, lat, lon (the centroid), region (with regions) (EPSG:4326 in the
  GeoJSON, ISO dates; the grid's CRS in the GeoPackage, date-time fields, its QGIS style in
  `layer_styles`); `alerts.qml`, `alert_cells.qml`: the QGIS styles beside the GeoJSONs
- `alert_cells.geojson`: one feature per cell alert: row, col, its alert_id, and the change labels'
  probabilities before (at last_forest) and after (at first_seen)
- `history.csv`: cell x date: observable, tags and the 17 probabilities of every cell read
- `regions.csv`: with regions=: alert area per region, type and date
- `timeline.png`: new alert area per type per date, stacked (retracted alerts not counted)
- `evidence/<alert_id>.png`: the before and after crops side by side (a retracted alert's at every
  date), the cells outlined, dates and probabilities
- `report.md`: the model and what it learned from, the operating point (and what each would alert
  here), the alerted cell area, the regions, the largest and the retracted alerts with where they
  are, the timeline, the caveats
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from amazon_cls.core.labels import ALARMS, LABEL_INDEX, PROB_COLUMNS, vector_to_tags
from amazon_cls.geo.change.alerts import States
from amazon_cls.geo.change.series import Series
from amazon_cls.geo.change.shards import scope
from amazon_cls.geo.grid import cells_frame, hectares
from amazon_cls.geo.outputs.geojson import wgs84
from amazon_cls.geo.outputs.gpkg import GPKG_VERSION
from amazon_cls.geo.outputs.preview import COLOURS
from amazon_cls.geo.scene import Scene, open_raster, reading
from amazon_cls.geo.styles import add_default_style, alerts_qml
from amazon_cls.store.atomic import atomic_path, write_csv, write_text
from amazon_cls.store.figures import new_figure, save_figure
from amazon_cls.store.monitor_folder import MonitorFolder
from amazon_cls.store.tables import markdown_table


def iso(series: Series, index: Any) -> str | None:
    return series.dates[int(index)].isoformat() if index is not None and int(index) >= 0 else None


def with_dates(frame: gpd.GeoDataFrame, series: Series) -> gpd.GeoDataFrame:
    """Date indexes as ISO dates, for files people read."""
    frame = frame.copy()
    for column in ("first_seen", "last_forest"):
        frame[column] = [iso(series, value) for value in frame[column]]
    return frame


def write_vectors(folder: MonitorFolder, polygons: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, series: Series) -> None:
    """The alerts and their cells as GeoJSON (ISO dates, which GDAL reads as dates) with a QGIS
    style beside each, and the alerts as a GeoPackage (date-time fields) holding its own style."""
    dated_polygons = with_dates(polygons, series)
    style = alerts_qml({kind: COLOURS[kind] for kind in ALARMS})
    write_text(folder.alerts_geojson, json.dumps(geojson_of(dated_polygons), allow_nan=False))
    with atomic_path(folder.alerts_gpkg) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL notes the temporary name's extension
        as_dates = {column: pd.to_datetime(dated_polygons[column]) for column in ("first_seen", "last_forest")}
        dated_polygons.assign(**as_dates).to_file(tmp, driver="GPKG", layer="alerts", VERSION=GPKG_VERSION)
        add_default_style(tmp, "alerts", style, "alerts by type and confidence")
    write_text(folder.alert_cells, json.dumps(geojson_of(with_dates(cells, series)), allow_nan=False))
    write_text(folder.alerts_style, style)
    write_text(folder.alert_cells_style, style)


def geojson_of(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    collection = json.loads(wgs84(frame).to_json(drop_id=True, na="null"))
    collection.pop("crs", None)  # RFC 7946: EPSG:4326 without saying so
    return collection


def history_table(series: Series, states: States) -> pd.DataFrame:
    """Every read cell at every date: date, row, col, observable, tags and the probabilities."""
    frames = []
    for t, day in enumerate(series.dates):
        cells = np.flatnonzero(series.read[t])
        rows, cols = np.divmod(cells, series.grid.cols)
        frame = pd.DataFrame(
            {
                "date": day.isoformat(),
                "row": rows,
                "col": cols,
                "observable": states.observable[t, cells],
                "tags": [vector_to_tags(on) for on in states.on[t, cells]],
            }
        )
        frames.append(pd.concat([frame, pd.DataFrame(series.probs[t, cells], columns=PROB_COLUMNS)], axis=1))
    return pd.concat(frames, ignore_index=True)


def write_timeline(path: Path, polygons: gpd.GeoDataFrame, series: Series) -> Path:
    counted = polygons[polygons["confidence"] != "retracted"]
    area = counted.pivot_table(index="first_seen", columns="type", values="area_ha", aggfunc="sum", fill_value=0)
    area = area.reindex(range(len(series.dates)), fill_value=0.0)
    figure, axes = new_figure(figsize=(8, 4))
    bottom = np.zeros(len(series.dates))
    for kind in [k for k in ALARMS if k in area.columns]:
        axes.bar(range(len(series.dates)), area[kind], bottom=bottom, color=COLOURS[kind], label=kind)
        bottom += area[kind].to_numpy()
    axes.set_xticks(range(len(series.dates)), [day.isoformat() for day in series.dates], rotation=30)
    axes.set_ylabel("new alert area (ha)")
    axes.set_title("New alerts per date and type (retracted ones not counted)")
    if len(area.columns):
        axes.legend(fontsize=8)
    return save_figure(figure, path, dpi=110)


def rgb_window(scene: Scene, window: tuple[int, int, int, int]) -> np.ndarray:
    """The scene's RGB of a pixel window (left, top, right, bottom) of the grid, for the eye."""
    from rasterio.windows import Window

    left, top, right, bottom = window
    with reading(), open_raster(scene) as raster:
        pixels = raster.read(scene.rgb, window=Window(left, top, right - left, bottom - top), boundless=False)
    return np.asarray(scene.to_input(pixels)).transpose(1, 2, 0).astype(np.uint8)  # as the model sees it


def write_web_map(
    folder: MonitorFolder, polygons: gpd.GeoDataFrame, series: Series, evidence: list[str], basemap: str | None
) -> Path:
    """alerts.html: the alerts over the first and last scenes, a layer per date they were first
    seen, each alert's popup with where, when, what and its evidence."""
    from amazon_cls.geo.web import VectorLayer, overlay_of, page, picture

    overlays = [
        overlay_of(f"scene of {series.dates[t].isoformat()}", picture(series.scenes[t]), series.footprint, shown)
        for t, shown in ((0, False), (len(series.dates) - 1, True))
    ]
    dated = with_dates(polygons, series)
    dated["area"] = [f"{area:.0f} ha" for area in dated["area_ha"]]
    linked = lambda a: folder.evidence(a).relative_to(folder.path).as_posix() if a in evidence else ""  # noqa: E731
    dated["evidence"] = [linked(a) for a in dated["alert_id"]]
    fields = [
        ("alert_id", "alert"), ("type", "type"), ("labels", "labels"), ("first_seen", "first seen"),
        ("last_forest", "last seen as forest"), ("confidence", "confidence"), ("area", "alerted cell area"),
        ("lat", "latitude"), ("lon", "longitude"), ("region", "region"),
    ]  # fmt: skip
    layers = [
        VectorLayer(f"alerts first seen {day}", geojson_of(dated[dated["first_seen"] == day]), fields)
        for day in sorted(set(dated["first_seen"]))
    ]
    notes = f"{len(series.dates)} dates, {series.dates[0]} to {series.dates[-1]}; {len(polygons)} alerts"
    return write_text(folder.web_map, page("Alerts", layers, overlays, {k: COLOURS[k] for k in ALARMS}, basemap, notes))


def write_evidence(path: Path, alert: pd.Series, cells: gpd.GeoDataFrame, series: Series) -> Path:
    """The cells' ground before and after, side by side, outlined, with dates and probabilities; a
    retracted alert's at every date, so that the date that retracted it is seen too."""
    grid = series.grid
    boxes = grid.cell_boxes(list(zip(cells["row"], cells["col"], strict=True)))
    margin = grid.step
    low, high = boxes[:, :2].min(axis=0) - margin, boxes[:, 2:].max(axis=0) + margin
    window = (max(0, int(low[0])), max(0, int(low[1])), min(grid.width, int(high[0])), min(grid.height, int(high[1])))
    before, after = int(alert["last_forest"]), int(alert["first_seen"])
    shown = list(range(len(series.dates))) if alert["confidence"] == "retracted" else [before, after]
    titles = {before: "before", after: "after"}
    figure, axes = new_figure(1, len(shown), figsize=(4.5 * len(shown), 5), squeeze=False)
    figure.set_layout_engine("constrained")  # the title clear of the captions, whatever the crops' shape
    change = alert["labels"].split()
    for ax, t in zip(axes[0], shown, strict=True):
        title = titles.get(t, "later" if t > after else "earlier")
        ax.imshow(rgb_window(series.scenes[t], window), extent=(window[0], window[2], window[3], window[1]))
        for left, top, right, bottom in boxes:
            ax.add_patch(
                Rectangle(
                    (left, top),
                    right - left,
                    bottom - top,
                    fill=False,
                    edgecolor=COLOURS.get(alert["type"], "red"),
                    linewidth=1.5,
                )
            )
        probs = series.probs[t, cells["cell"].to_numpy()][:, [LABEL_INDEX[label] for label in change]].mean(0)
        said = ", ".join(f"p({label}) {p:.2f}" for label, p in zip(change, probs, strict=True))
        ax.set_title(f"{title}: {series.dates[t].isoformat()}\n{said}", fontsize=9)
        ax.set_axis_off()
    figure.suptitle(
        f"{alert['alert_id']}: {alert['type']} ({alert['labels']}), {alert['area_ha']:.1f} ha, {alert['confidence']}",
        fontsize=10,
    )
    return save_figure(figure, path, dpi=100)


@dataclass(frozen=True)
class Report:
    """What `report.md` is made of: the run's summary, the operating point's table, the alerts (ISO
    dates, located), the evidence written, the region totals (with regions) and what each operating
    point would alert on this run."""

    summary: dict[str, Any]
    operating: pd.DataFrame
    polygons: gpd.GeoDataFrame
    evidence: list[str]
    totals: pd.DataFrame | None
    compared: pd.DataFrame


def whole_ha(frame: pd.DataFrame) -> pd.DataFrame:
    """Areas in whole hectares, as a report says them (a cell counts whole: more digits say nothing)."""
    return frame.assign(**{c: frame[c].round().astype(int) for c in frame.columns if c.endswith("area_ha")})


def model_lines(provenance: list[dict[str, Any]]) -> list[str]:
    """Each model's provenance: the data it learned from, its epochs, its out-of-fold F2."""
    lines = []
    for model in provenance:
        trained_on = model.get("trained_on") or {}
        if not trained_on:
            lines.append(f"- `{model['checkpoint']}`: what it learned from is not recorded (an older checkpoint).")
            continue
        data = trained_on["data"]
        identity = trained_on.get("labels") or (
            f"generated with {trained_on['generator']}" if trained_on.get("generator") is not None else None
        )
        fold = f"fold {trained_on['fold']} of {trained_on['num_folds']}" if "fold" in trained_on else None
        f2 = (
            f"out-of-fold F2 {model['val_f2']:.3f}"
            if model.get("val_f2") is not None
            else "out-of-fold F2 not recorded"
        )
        epochs = f"{model['epochs']} epochs" if model.get("epochs") is not None else None
        said = ", ".join(filter(None, [data, identity, fold, epochs, f2]))
        lines.append(f"- `{model['checkpoint']}`: trained on {said}.")
    return lines


def regions_lines(totals: pd.DataFrame) -> list[str]:
    """The alerted cell area per region, type and date (`regions.csv`), for the report."""
    return ["## Regions", "", markdown_table(whole_ha(totals)) if len(totals) else "No alert in any region.", ""]


def write_report(path: Path, report: Report) -> Path:
    summary, polygons = report.summary, report.polygons
    counted = polygons[polygons["confidence"] != "retracted"]
    retracted = polygons[polygons["confidence"] == "retracted"]
    by_type = (
        counted.groupby("type")["area_ha"].agg(["count", "sum"]).rename(columns={"count": "alerts", "sum": "area_ha"})
    )
    confidence = polygons["confidence"].value_counts().reindex(["probable", "confirmed", "retracted"], fill_value=0)
    top = counted.sort_values("area_ha", ascending=False).head(10)
    where = ["lat", "lon", *(["region"] if "region" in polygons.columns else [])]
    largest = ["alert_id", "type", "labels", "first_seen", "last_forest", "confidence", "area_ha", "cells", *where]
    settings = summary["settings"]
    lines = [
        "# Monitoring report",
        "",
        *([f"> **Warning.** {summary['warning']}.", ""] if summary.get("warning") else []),
        f"{summary['scenes']} scenes from {summary['dates'][0]} to {summary['dates'][-1]} on one grid of "
        f"{summary['grid']['rows']} x {summary['grid']['cols']} cells ({summary['grid']['crs']}); "
        f"predicted with {summary['predictor']} (tta={settings['tta']}).",
        "",
        *([part, ""] if (part := scope(settings, summary["block"])) else []),
        "## The model",
        "",
        *model_lines(summary.get("provenance", [])),
        "",
        "## Operating point",
        "",
        f"`operating_point={settings['operating_point']}`"
        + (f", `alert_precision={settings['alert_precision']}`" if settings["operating_point"] == "precision" else "")
        + ": a change label is on above its threshold. The precision and recall below are "
        "**model-based (out-of-fold Kaggle chips, single-date)**: the model's scores on chips that are "
        "not a sample of this area, for single-date tags, not two-date change.",
        "",
        markdown_table(report.operating),
        "",
        "What each operating point would alert on this run (from its kept predictions; give "
        "`operating_point=` to choose, the same command reuses every prediction):",
        "",
        markdown_table(whole_ha(report.compared)) if len(report.compared) else "No alert at either.",
        "",
        "## Totals",
        "",
        f"{len(polygons)} alerts ({', '.join(f'{n} {kind}' for kind, n in confidence.items())}); "
        f"**alerted cell area {counted['area_ha'].sum():.0f} ha** (retracted alerts are kept and marked, "
        "never counted). A cell counts whole when its chip shows the change, however little of it "
        "changed: this is the area of the alerted cells, not the area cleared. For a figure to report, "
        "an error-adjusted area with its 95% interval, review a sample of this run's cells: "
        f"`python -m amazon_cls.sample monitor={path.parent}`, label `review.html`, then "
        "`python -m amazon_cls.area sample=<sample folder>/sample.csv`.",
        "",
        "Cell-dates hidden: {nodata} by nodata or outside a scene, {mask} by the cloud masks, {model} by the "
        "model's own unobservable labels.".format(**summary.get("hidden", {"nodata": 0, "mask": 0, "model": 0})),
        "",
        markdown_table(whole_ha(by_type.reset_index())) if len(by_type) else "No alert.",
        "",
        "![New alerts per date](timeline.png)",
        "",
        *(
            [
                "## Regions",
                "",
                markdown_table(whole_ha(report.totals)) if len(report.totals) else "No alert in any.",
                "",
            ]
            if report.totals is not None
            else []
        ),
        "## The largest alerts",
        "",
        "Where: each alert's centroid (latitude, longitude in degrees)"
        + (" and the region holding it." if "region" in polygons.columns else "."),
        "",
        markdown_table(whole_ha(top[largest])) if len(top) else "None.",
        "",
        *[
            f"![{alert_id}](evidence/{alert_id}.png)"
            for alert_id in report.evidence
            if alert_id in set(top["alert_id"])
        ],
        "",
        "## Retracted alerts",
        "",
        "A change seen at one date and forest again at a later one: kept and marked, never counted; "
        "their evidence shows the cells at every date.",
        "",
        markdown_table(whole_ha(retracted[largest])) if len(retracted) else "None.",
        "",
        *[f"![{a}](evidence/{a}.png)" for a in report.evidence if a in set(retracted["alert_id"])],
        "",
        "## Caveats",
        "",
        "- `first_seen` is the date of the first scene that shows the change, not the date the clearing "
        "happened: it happened after `last_forest` (the last scene that saw forest there) and before.",
        "- Cloud (and the other `unobservable` labels) and gaps in the scenes' footprints hide cells: an "
        "alert after a long gap may be old; a cell never seen clear raises none.",
        "- Confidence needs a later scene: the last date's alerts are `probable` until the next one.",
        "- A cell is the stride square around its chip's centre; the chip that decides it sees its "
        "neighbourhood too, so a change near a cell's edge may show in the next cell as well.",
    ]
    return write_text(path, "\n".join(lines) + "\n")


def cells_table(series: Series, states: States, alerts: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every cell the run covers (the grid, or a shard's block), once: where it is (centre in the
    grid's CRS and in degrees, its box in the grid's pixels, its ground area), how often it was
    observable and forest, and its latest alert that was not retracted (else a retracted one): what
    `sample` stratifies the map by."""
    grid = series.grid
    frame = cells_frame(series.footprint, grid, series.cells)
    centres = frame.geometry.centroid
    degrees = centres.to_crs("EPSG:4326")
    boxes = grid.cell_boxes(series.cells)
    table = pd.DataFrame(
        {
            "row": frame["row"],
            "col": frame["col"],
            "x": centres.x.map("{:.3f}".format),  # as text: the CSV writer keeps 6 significant digits
            "y": centres.y.map("{:.3f}".format),
            "lon": degrees.x.map("{:.7f}".format),
            "lat": degrees.y.map("{:.7f}".format),
            "area_ha": hectares(frame).round(6),
            **{side: boxes[:, k].astype(int) for k, side in enumerate(("left", "top", "right", "bottom"))},
        }
    )
    cell = table["row"].to_numpy() * grid.cols + table["col"].to_numpy()
    table["observable_dates"] = states.observable.sum(0)[cell]
    table["forest_dates"] = states.forest.sum(0)[cell]
    latest = alerts.assign(kept=alerts["confidence"] != "retracted").sort_values(["kept", "first_seen"])
    latest = latest.drop_duplicates("cell", keep="last").set_index("cell")
    table["alert_id"] = latest["alert_id"].reindex(cell).fillna("").to_numpy()
    table["alert_type"] = latest["type"].reindex(cell).fillna("").to_numpy()
    table["confidence"] = latest["confidence"].reindex(cell).fillna("").to_numpy()
    first = latest["first_seen"].reindex(cell).to_numpy()
    table["first_seen"] = [iso(series, value) if value == value else "" for value in first]
    return table


CHIPS_BLOCK = 256  # the chips rasters' tiles
CHIPS_STRIP = 4 * CHIPS_BLOCK  # rows written at a time: whole rows of tiles


def write_chips(folder: MonitorFolder, series: Series) -> list[Path]:
    """Each date's RGB, for the eye, on the grid (JPEG in a GeoTIFF): the cells' chips `sample`
    shows reviewers, without reading the scenes again."""
    import rasterio
    from rasterio.windows import Window

    written = []
    grid, footprint = series.grid, series.footprint
    left, top, right, bottom = covered_pixels(series)
    for day, scene in zip(series.dates, series.scenes, strict=True):
        path = folder.chips(day)
        profile = {
            "driver": "GTiff",
            "width": grid.width,
            "height": grid.height,
            "count": 3,
            "dtype": "uint8",
            "crs": footprint.crs,
            "transform": footprint.transform,
            "tiled": True,
            "blockxsize": CHIPS_BLOCK,
            "blockysize": CHIPS_BLOCK,
            "compress": "jpeg",
            "photometric": "ycbcr",
            "jpeg_quality": 90,
        }
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as raster:
            for start in range(top, bottom, CHIPS_STRIP):  # whole rows of blocks: never the whole scene in memory
                end = min(bottom, start + CHIPS_STRIP)
                rgb = rgb_window(scene, (left, start, right, end))
                raster.write(rgb.transpose(2, 0, 1), window=Window(left, start, right - left, end - start))
        written.append(path)
    return written


def covered_pixels(series: Series) -> tuple[int, int, int, int]:
    """The grid's pixels (left, top, right, bottom) that hold the run's cells, out to whole blocks of
    the chips rasters (a shard's block; else the whole grid)."""
    grid = series.grid
    boxes = grid.cell_boxes(series.cells)
    out = lambda low, high, size: (  # noqa: E731
        int(low) // CHIPS_BLOCK * CHIPS_BLOCK,
        min(size, -(-int(np.ceil(high)) // CHIPS_BLOCK) * CHIPS_BLOCK),
    )
    left, right = out(boxes[:, 0].min(), boxes[:, 2].max(), grid.width)
    top, bottom = out(boxes[:, 1].min(), boxes[:, 3].max(), grid.height)
    return left, top, right, bottom


def write_history(path: Path, series: Series, states: States) -> Path:
    return write_csv(path, history_table(series, states))
