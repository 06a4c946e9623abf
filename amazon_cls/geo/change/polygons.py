"""Alerts as the field draws them (INPE's DETER): neighbouring alert cells of the same type, date
and confidence merged into one polygon with their summed area and cell count; polygons below
`min_area_ha` dropped (their cells stay listed); and the alert area per region, type and date,
an alert crossing a border split by area. Retracted alerts are kept and marked, never counted."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from amazon_cls.geo.grid import Grid, cells_frame, hectares
from amazon_cls.geo.scene import Footprint

KEYS = ["type", "first_seen", "confidence"]


def alert_cells(alerts: pd.DataFrame, grid: Grid, footprint: Footprint) -> gpd.GeoDataFrame:
    """The cell alerts as polygons on the grid, with row, col and area_ha."""
    rows, cols = np.divmod(alerts["cell"].to_numpy(), grid.cols)
    columns = {name: alerts[name].to_numpy() for name in alerts.columns if name not in ("row", "col")}
    frame = cells_frame(footprint, grid, list(zip(rows.tolist(), cols.tolist(), strict=True)), **columns)
    frame["area_ha"] = hectares(frame)
    return frame


def merged(cells: gpd.GeoDataFrame, grid: Grid, min_area_ha: float = 0.0) -> gpd.GeoDataFrame:
    """One polygon per group of 4-connected alert cells sharing type, first_seen and confidence;
    `cells` gets each cell's `alert_id` (none where its polygon is below `min_area_ha`)."""
    parts, members = [], []
    for (kind, first_seen, confidence), group in cells.groupby(KEYS, sort=True):
        mask = np.zeros((grid.rows, grid.cols), bool)
        mask[group["row"], group["col"]] = True
        components, _ = ndimage.label(mask)  # 4-connectivity: cells that share a side
        for _, piece in group.groupby(components[group["row"], group["col"]]):
            parts.append(
                {
                    "type": kind,
                    "first_seen": first_seen,
                    "confidence": confidence,
                    "last_forest": piece["last_forest"].min(),
                    "labels": " ".join(sorted(set(" ".join(piece["labels"]).split()))),
                    "area_ha": float(piece["area_ha"].sum()),
                    "cells": len(piece),
                    "geometry": shapely.union_all(piece.geometry.to_numpy()),
                }
            )
            members.append(piece.index)
    polygons = gpd.GeoDataFrame(parts, geometry="geometry", crs=cells.crs) if parts else empty(cells.crs)
    polygons["members"] = members if parts else []
    polygons = polygons[polygons["area_ha"] >= min_area_ha]
    polygons = polygons.sort_values(["first_seen", "area_ha"], ascending=[True, False]).reset_index(drop=True)
    polygons.insert(0, "alert_id", [f"A{k + 1:05d}" for k in range(len(polygons))])
    cells["alert_id"] = None
    for alert_id, index in zip(polygons["alert_id"], polygons["members"], strict=True):
        cells.loc[index, "alert_id"] = alert_id
    return polygons.drop(columns="members")


def empty(crs: object) -> gpd.GeoDataFrame:
    columns = ["type", "first_seen", "confidence", "last_forest", "labels", "area_ha", "cells"]
    return gpd.GeoDataFrame({column: [] for column in columns}, geometry=[], crs=crs)


def read_regions(path: str | Path, key: str | None) -> gpd.GeoDataFrame:
    """A regions file (GeoJSON, GeoPackage, shapefile: anything GDAL reads), checked for `key`."""
    try:
        regions = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several types for files it cannot read
        raise ValueError(f"regions={path}: not a vector file GDAL can read ({error})") from None
    if not key:
        raise ValueError(
            f"regions={path}: give region_key=<attribute> naming each region (one of "
            f"{[c for c in regions.columns if c != 'geometry']})"
        )
    if key not in regions.columns:
        raise ValueError(
            f"region_key={key!r}: {path} has no such attribute (it has "
            f"{[c for c in regions.columns if c != 'geometry']})"
        )
    if regions.crs is None:
        raise ValueError(f"regions={path}: the file has no CRS")
    return regions[[key, "geometry"]]


def region_totals(polygons: gpd.GeoDataFrame, regions: gpd.GeoDataFrame, key: str) -> pd.DataFrame:
    """Alert area (ha) per region, type and date; an alert across a border split by area; retracted not counted."""
    counted = polygons[polygons["confidence"] != "retracted"]
    if counted.empty:
        return pd.DataFrame(columns=[key, "type", "first_seen", "area_ha", "alerts"])
    pieces = gpd.overlay(
        counted[["alert_id", "type", "first_seen", "geometry"]],
        regions.to_crs(counted.crs),
        how="intersection",
        keep_geom_type=True,
    )
    pieces["area_ha"] = hectares(pieces)
    totals = pieces.groupby([key, "type", "first_seen"], as_index=False).agg(
        area_ha=("area_ha", "sum"), alerts=("alert_id", "nunique")
    )
    return totals.sort_values([key, "first_seen", "type"]).reset_index(drop=True)


def located(polygons: gpd.GeoDataFrame, regions: gpd.GeoDataFrame | None, key: str | None) -> gpd.GeoDataFrame:
    """The alerts with where they are: their centroid's latitude and longitude (degrees, WGS 84)
    and, with regions, the region holding that centroid (empty where none does)."""
    polygons = polygons.copy()
    centres = polygons.geometry.centroid
    degrees = centres.to_crs("EPSG:4326")
    polygons["lat"], polygons["lon"] = degrees.y.round(6).to_numpy(), degrees.x.round(6).to_numpy()
    if regions is not None and key is not None:
        points = gpd.GeoDataFrame({"alert": range(len(polygons))}, geometry=centres.to_numpy(), crs=polygons.crs)
        inside = gpd.sjoin(points, regions.to_crs(polygons.crs), how="left", predicate="within")
        polygons["region"] = inside.drop_duplicates("alert").sort_values("alert")[key].fillna("").to_numpy()
    return polygons
