"""A date's tiles as one raster: a GDAL VRT over tiles of one grid (the NICFI quads of a month),
written by hand (the format is a short XML; no shell call, no GDAL bindings). Each tile is named
with its size and times in the VRT, so the VRT's own identity changes when a tile is rewritten:
the records that skip finished work see it."""

from __future__ import annotations

import html
import os
from pathlib import Path

import rasterio

from amazon_cls.geo.scene import SceneError
from amazon_cls.store.atomic import write_text

GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32", "float32": "Float32"}


def mosaic(tiles: list[str], target: Path) -> Path:
    """One VRT at `target` over `tiles` (one CRS, one pixel size, the same bands and type)."""
    described = [describe(Path(tile)) for tile in tiles]
    first = described[0]
    for tile in described[1:]:
        for key in ("crs", "res", "count", "dtype"):
            if tile[key] != first[key]:
                raise SceneError(
                    f"{tile['path']}: its {key} ({tile[key]}) differs from {first['path']}'s ({first[key]}); "
                    "the tiles of a date must share one grid"
                )
    xres, yres = first["res"]
    left = min(t["left"] for t in described)
    top = max(t["top"] for t in described)
    width = round((max(t["left"] + t["width"] * xres for t in described) - left) / xres)
    height = round((top - min(t["top"] - t["height"] * yres for t in described)) / yres)
    bands = []
    for band in range(1, first["count"] + 1):
        sources = "".join(
            source(tile, band, round((tile["left"] - left) / xres), round((top - tile["top"]) / yres))
            for tile in described
        )
        interp = first["colorinterp"][band - 1]
        nodata = f"<NoDataValue>{first['nodata']}</NoDataValue>" if first["nodata"] is not None else ""
        bands.append(
            f'  <VRTRasterBand dataType="{GDAL_TYPES[first["dtype"]]}" band="{band}">\n'
            f"    <ColorInterp>{interp}</ColorInterp>{nodata}\n{sources}  </VRTRasterBand>\n"
        )
    identities = "".join(f"  <!-- {html.escape(t['path'])}: {t['stamp']} -->\n" for t in described)
    text = (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n{identities}'
        f"  <SRS>{html.escape(first['crs'])}</SRS>\n"
        f"  <GeoTransform>{left!r}, {xres!r}, 0.0, {top!r}, 0.0, {-yres!r}</GeoTransform>\n"
        + "".join(bands)
        + "</VRTDataset>\n"
    )
    if not target.is_file() or target.read_text() != text:  # the same tiles: the same file, its identity kept
        write_text(target, text)
    return target


def describe(path: Path) -> dict:
    try:
        with rasterio.open(path) as raster:
            transform, stat = raster.transform, os.stat(path)
            return {
                "path": str(path.resolve()),
                "crs": raster.crs.to_wkt() if raster.crs else "",
                "res": (abs(transform.a), abs(transform.e)),
                "count": raster.count,
                "dtype": raster.dtypes[0],
                "left": transform.c,
                "top": transform.f,
                "width": raster.width,
                "height": raster.height,
                "nodata": raster.nodata,
                "colorinterp": [interp.name.capitalize() for interp in raster.colorinterp],  # as GDAL spells them
                "stamp": f"{stat.st_size} bytes, mtime_ns {stat.st_mtime_ns}, ctime_ns {stat.st_ctime_ns}",
            }
    except rasterio.errors.RasterioIOError as error:
        raise SceneError(f"{path}: not a raster GDAL can read ({error})") from None


def source(tile: dict, band: int, x: int, y: int) -> str:
    size = f'xSize="{tile["width"]}" ySize="{tile["height"]}"'
    return (
        f'    <SimpleSource><SourceFilename relativeToVRT="0">{html.escape(tile["path"])}</SourceFilename>'
        f'<SourceBand>{band}</SourceBand><SrcRect xOff="0" yOff="0" {size}/>'
        f'<DstRect xOff="{x}" yOff="{y}" {size}/></SimpleSource>\n'
    )
