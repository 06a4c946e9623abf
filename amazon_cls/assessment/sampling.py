"""Everything `sample` does: a finished monitor run's cells stratified by what the map says, a
stratified random sample of them drawn, and the page to review it blind."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from omegaconf import DictConfig

from amazon_cls.assessment import design
from amazon_cls.assessment.review import write_page, write_pictures
from amazon_cls.core.labels import ALARMS
from amazon_cls.geo.change.polygons import read_regions
from amazon_cls.store.atomic import remove_stale_temporaries, write_csv, write_text
from amazon_cls.store.done import Done
from amazon_cls.store.monitor_folder import MonitorFolder
from amazon_cls.store.report_folders import SampleFolder

log = logging.getLogger(__name__)
SETTINGS = ("stratify", "size", "target_se", "min_per_stratum", "anticipated_accuracy", "anticipated_omission")
REVIEW_COLUMNS = ("reference", "type", "note")


def finished_monitor(path: Path) -> tuple[MonitorFolder, dict[str, Any]]:
    """The monitor folder and its record, if it holds a finished run; else one line saying what it is."""
    folder = MonitorFolder(path)
    done = Done(folder.record)
    record = done.finished(folder.outputs(), {})
    if record is None:
        said = "has no monitor.json" if not folder.record.is_file() else "its outputs changed since it finished"
        raise ValueError(f"monitor={path}: not a finished monitor run ({said}); run monitor with output_dir={path}")
    if not folder.cells.is_file():
        raise ValueError(f"monitor={path}: a run made before cells.csv existed; run the same monitor command again")
    return folder, record


def sample(cfg: DictConfig) -> dict[str, Any]:
    """Draw the sample, write strata.csv, sample.csv and review.html; returns the record."""
    monitor, made = finished_monitor(Path(cfg.monitor))
    folder = SampleFolder(Path(cfg.output_dir))
    remove_stale_temporaries(folder.path)
    settings = {key: cfg[key] for key in (*SETTINGS, "seed")} | {"regions": cfg.regions, "region_key": cfg.region_key}
    inputs = [monitor.record, monitor.cells, *(monitor.chips(day) for day in dates_of(made))]
    done = Done(folder.record)
    if before := done.finished([folder.sample, folder.review], {"settings": settings}, inputs):
        log.info("%s: sampled before from this run with these settings; nothing to do", folder.path)
        return before
    keep_reviews(folder)
    cells = read_text_table(monitor.cells, numbers=CELL_NUMBERS)
    regions = regions_of(cfg, made)
    if regions is not None:
        cells = in_regions(cells, made["grid"]["crs"], *regions)
    strata = design.strata_of(cells, cfg.stratify)
    table = design.strata_table(cells, strata)
    units = allocation(cfg, table)
    drawn = design.draw(cells, strata, units, cfg.seed)
    table = table.assign(sampled=units.reindex(table["stratum"]).fillna(0).astype(int).to_numpy())
    with done.rewriting():
        written = write_sample(folder, monitor, made, cells, strata, table, drawn)
    record = {"settings": settings, "monitor": str(monitor.path), "strata": table.to_dict("records")}
    return done.write(written, record, inputs)


def dates_of(made: dict[str, Any]) -> list[str]:
    return list(made["dates"])


def keep_reviews(folder: SampleFolder) -> None:
    """A sample.csv that holds reviews is never drawn over: a new draw needs another folder."""
    if not folder.sample.is_file():
        return
    reviewed = read_text_table(folder.sample)
    filled = int((reviewed.get("reference", pd.Series(dtype=str)) != "").sum())
    if filled:
        raise ValueError(
            f"{folder.sample}: holds {filled} reviewed units, and these settings (or the monitor run) "
            "would draw a new sample over it; give another output_dir, or move the reviewed file away"
        )


def regions_of(cfg: DictConfig, made: dict[str, Any]) -> tuple[gpd.GeoDataFrame, str] | None:
    """The regions to restrict to: `regions=`, else the monitor run's own, else none."""
    path, key = cfg.regions, cfg.region_key
    if path is None:
        path, key = made["settings"].get("regions"), made["settings"].get("region_key")
    return (read_regions(path, key), key) if path else None


def in_regions(cells: pd.DataFrame, crs: str, regions: gpd.GeoDataFrame, key: str) -> pd.DataFrame:
    """The cells whose centre lies in a region, with the region's name (`region`); the rest dropped."""
    points = gpd.points_from_xy(cells["x"].astype(float), cells["y"].astype(float))
    centres = gpd.GeoDataFrame(cells, geometry=points, crs=crs)
    joined = gpd.sjoin(centres, regions.to_crs(crs), how="inner", predicate="within")
    joined = joined[~joined.index.duplicated()]  # a centre on a shared border: its first region
    if joined.empty:
        raise ValueError(f"regions: no cell of the monitor run has its centre inside any region of {key!r}")
    return pd.DataFrame(joined.drop(columns=["geometry", "index_right"])).rename(columns={key: "region"})


def allocation(cfg: DictConfig, table: pd.DataFrame) -> pd.Series:
    """Units per stratum, from `size` or from `target_se`, logged with what they rest on."""
    size = cfg.size
    if size is None:
        anticipated = design.anticipated_change(
            design.sampled(table)["stratum"], cfg.anticipated_accuracy, cfg.anticipated_omission
        )
        size = design.size_for(table, cfg.target_se, cfg.min_per_stratum, anticipated)
        log.info(
            "target_se=%s: %d units (anticipated share of change: %.2f in alert strata, %.2f elsewhere)",
            cfg.target_se,
            size,
            cfg.anticipated_accuracy,
            cfg.anticipated_omission,
        )
    for row in table[(table["cells"] < 2) & (table["stratum"] != design.UNOBSERVABLE)].itertuples():
        log.warning(
            "Stratum %s has %d cell (%.2f ha): too small to sample, not estimated", row.stratum, row.cells, row.area_ha
        )
    return design.allocate(table, size, cfg.min_per_stratum)


def write_sample(
    folder: SampleFolder,
    monitor: MonitorFolder,
    made: dict[str, Any],
    cells: pd.DataFrame,
    strata: pd.Series,
    table: pd.DataFrame,
    drawn: pd.DataFrame,
) -> list[Path]:
    """strata.csv (and by region), sample.csv, review.html and its pictures."""
    written = [write_csv(folder.strata, table)]
    if "region" in cells:
        by_region = cells.assign(stratum=strata).groupby(["region", "stratum"])["area_ha"].agg(["count", "sum"])
        by_region = by_region.rename(columns={"count": "cells", "sum": "area_ha"}).reset_index()
        written.append(write_csv(folder.strata_by_region, by_region))
    dates = dates_of(made)
    where = ["row", "col", "x", "y", "lon", "lat"]
    columns = ["sample_id", "stratum", *(["region"] if "region" in drawn else []), *where]
    units = drawn[columns].assign(start=dates[0], end=dates[-1], **dict.fromkeys(REVIEW_COLUMNS, ""))
    text = units.to_csv(index=False)  # every value text already: the page exports exactly these columns
    written.append(write_text(folder.sample, text))
    shown = write_pictures(drawn, {day: monitor.chips(day) for day in dates}, folder.pictures)
    page = write_page(folder.review, text, shown, list(ALARMS), str(monitor.path), folder.sample.name)
    written.append(page)
    return written + [folder.path / image["src"] for images in shown.values() for image in images]


CELL_NUMBERS = {"row": int, "col": int, "area_ha": float, "left": int, "top": int, "right": int, "bottom": int}
CELL_NUMBERS |= {"observable_dates": int, "forest_dates": int}


def read_text_table(path: Path, numbers: dict[str, type] | None = None) -> pd.DataFrame:
    """A CSV of this project with every value as written (text), but the `numbers` columns."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return frame.astype({name: kind for name, kind in (numbers or {}).items() if name in frame})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: not a table this project wrote ({' '.join(str(error).split())})") from None
