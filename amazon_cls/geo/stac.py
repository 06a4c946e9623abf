"""Scenes found through STAC: `scenes=[<an ItemCollection JSON>]` or `scenes=[<a folder of Item
JSON files>]`. Each item's `datetime` gives its date; its image is the sensor's image asset (its
asset of role `data` where the sensor names none the item has), its cloud mask the sensor's mask
asset (or the asset of role `cloud`), if any. Relative hrefs resolve against the file that holds
them; anything GDAL opens works."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pystac

from amazon_cls.geo.scene import SceneError
from amazon_cls.geo.sensors import Sensor


@dataclass(frozen=True)
class Found:
    """A scene of a STAC item: its image, its date and its cloud mask (None: none)."""

    image: str
    day: date
    mask: str | None


def is_stac(scenes: list[str]) -> bool:
    """`scenes=` names one STAC file (JSON) or folder rather than rasters."""
    return len(scenes) == 1 and (Path(scenes[0]).is_dir() or is_json(Path(scenes[0])))


def is_json(path: Path) -> bool:
    """The file holds a JSON object (a raster does not start with `{`)."""
    try:
        with open(path, "rb") as file:
            return file.read(256).lstrip().startswith(b"{")
    except OSError:
        return False


def stac_scenes(entry: str, sensor: Sensor) -> list[Found]:
    """The scenes of the ItemCollection or the folder of Items at `entry`, one per item, sorted by date."""
    path = Path(entry)
    found = sorted((scene_of(item, base, sensor) for item, base in items_at(path)), key=lambda f: f.day)
    if len(found) < 2:
        raise SceneError(f"scenes={entry}: {len(found)} STAC item(s); a series needs two or more")
    days = [f.day for f in found]
    if twice := sorted({str(d) for d in days if days.count(d) > 1}):
        raise SceneError(
            f"scenes={entry}: several items of {twice[0]}: a date's tiles are not joined yet; one item per date"
        )
    return found


def items_at(path: Path) -> list[tuple[pystac.Item, Path]]:
    """The items and the folder their relative hrefs resolve against."""
    if path.is_dir():
        return [(read_stac(item, pystac.Item.from_file), item.parent) for item in sorted(path.glob("*.json"))]
    kind = read_stac(path, lambda file: json.loads(Path(file).read_text()).get("type"))
    if kind == "FeatureCollection":
        return [(item, path.parent) for item in read_stac(path, pystac.ItemCollection.from_file)]
    return [(read_stac(path, pystac.Item.from_file), path.parent)]


def read_stac(path: Path, read):
    """`read(path)`, or one line naming the file that is not STAC."""
    try:
        return read(str(path))
    except (ValueError, KeyError, AttributeError, pystac.STACError, pystac.STACTypeError) as error:
        raise SceneError(f"{path}: not a STAC ItemCollection or Item ({' '.join(str(error).split())})") from None


def scene_of(item: pystac.Item, base: Path, sensor: Sensor) -> Found:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise SceneError(f"STAC item {item.id}: no datetime")
    image = asset_of(item, sensor.image_assets, "data")
    if image is None:
        wanted = ", ".join(sensor.image_assets) or "none named"
        raise SceneError(
            f"STAC item {item.id}: no image asset for sensor={sensor.name} ({wanted}; nor one of role 'data'); "
            f"its assets: {sorted(item.assets)}"
        )
    mask = asset_of(item, sensor.mask_assets, "cloud")
    return Found(href(image, base), when.date(), href(mask, base) if mask is not None else None)


def asset_of(item: pystac.Item, keys: tuple[str, ...], role: str) -> pystac.Asset | None:
    for key in keys:
        if key in item.assets:
            return item.assets[key]
    with_role = [asset for asset in item.assets.values() if role in (asset.roles or [])]
    return with_role[0] if len(with_role) == 1 else None


def href(asset: pystac.Asset, base: Path) -> str:
    """The asset's location: a URL or absolute path as it is, a relative path against `base`."""
    target = asset.href
    if "://" in target or Path(target).is_absolute():
        return target
    return str((base / target).resolve())
