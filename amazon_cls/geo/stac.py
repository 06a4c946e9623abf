"""Scenes found through STAC: `scenes=[<an ItemCollection JSON>]` or `scenes=[<a folder of Item
JSON files>]`. Each item's `datetime` gives its date; its image is the sensor's image asset (its
asset of role `data` where the sensor names none the item has), its cloud mask the sensor's mask
asset (or the asset of role `cloud`), if any. Several items of one date are its tiles, read as one
raster (`geo.mosaic`). Relative hrefs resolve against the file that holds them."""

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
    """A date of the STAC items: its images (the tiles of that date), and their cloud masks (none: none)."""

    day: date
    images: list[str]
    masks: list[str]


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
    """The dates of the ItemCollection or the folder of Items at `entry`, each with its items'
    images and masks (several items of one date: its tiles), sorted by date."""
    by_day: dict[date, list[tuple[str, str | None]]] = {}
    for item, base in items_at(Path(entry)):
        day, image, mask = scene_of(item, base, sensor)
        by_day.setdefault(day, []).append((image, mask))
    if len(by_day) < 2:
        raise SceneError(f"scenes={entry}: STAC items of {len(by_day)} date(s); a series needs two or more")
    found = []
    for day, tiles in sorted(by_day.items()):
        masks = [mask for _, mask in tiles if mask is not None]
        if masks and len(masks) != len(tiles):
            raise SceneError(f"scenes={entry}: some items of {day} have a cloud mask and some none")
        found.append(Found(day, [image for image, _ in tiles], masks))
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


def scene_of(item: pystac.Item, base: Path, sensor: Sensor) -> tuple[date, str, str | None]:
    """An item's date, image and cloud mask (None: none)."""
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
    return when.date(), href(image, base), href(mask, base) if mask is not None else None


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
