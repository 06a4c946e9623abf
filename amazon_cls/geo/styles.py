"""QGIS styles (QML) for the layers `map` and `monitor` write, so that each opens styled: alerts
filled by type in the preview's palette with the outline by confidence (solid confirmed, dashed
probable, grey retracted) and dated for QGIS's temporal controller; the class raster as a palette
with each class's name, "none" transparent. QGIS loads a QML sidecar of the same name beside a
GeoJSON or raster (`alerts.qml` beside `alerts.geojson`), and a GeoPackage's default style from its
`layer_styles` table. The QML is written for QGIS 3.28 LTR and read by every later release."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

QGIS_VERSION = "3.28.0-Firenze"
RETRACTED_GREY = "128,128,128,255"
FILL_ALPHA = 110  # of 255: the scene stays visible under an alert


def rgba(colour: str, alpha: int = 255) -> str:
    """'#rrggbb' as QGIS writes a colour: 'r,g,b,a'."""
    return f"{int(colour[1:3], 16)},{int(colour[3:5], 16)},{int(colour[5:7], 16)},{alpha}"


def option(name: str, value: str, kind: str = "QString") -> str:
    return f"<Option name={quoteattr(name)} value={quoteattr(value)} type={quoteattr(kind)}/>"


def expression_property(name: str, expression: str) -> str:
    """A data-defined property of a symbol layer, computed per feature by a QGIS expression."""
    return (
        f'<Option name="{name}" type="Map">{option("active", "true", "bool")}'
        f"{option('expression', expression)}{option('type', '3', 'int')}</Option>"
    )


def alert_symbol(index: int, colour: str) -> str:
    """The fill of one type: its colour, see-through; the outline solid, dashed for probable
    alerts, grey (fill and outline) for retracted ones."""
    outline_style = "CASE WHEN \"confidence\" = 'probable' THEN 'dash' ELSE 'solid' END"
    outline_colour = f"CASE WHEN \"confidence\" = 'retracted' THEN '{RETRACTED_GREY}' ELSE '{rgba(colour)}' END"
    fill_colour = (
        f"CASE WHEN \"confidence\" = 'retracted' THEN '128,128,128,{FILL_ALPHA // 2}' "
        f"ELSE '{rgba(colour, FILL_ALPHA)}' END"
    )
    options = "".join(
        option(k, v)
        for k, v in (
            ("color", rgba(colour, FILL_ALPHA)),
            ("style", "solid"),
            ("outline_color", rgba(colour)),
            ("outline_style", "solid"),
            ("outline_width", "0.8"),
            ("outline_width_unit", "MM"),
            ("joinstyle", "miter"),
        )
    )
    properties = "".join(
        expression_property(name, expression)
        for name, expression in (
            ("outlineStyle", outline_style),
            ("outlineColor", outline_colour),
            ("fillColor", fill_colour),
        )
    )
    return (
        f'<symbol name="{index}" type="fill" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleFill" enabled="1" pass="0" locked="0"><Option type="Map">{options}</Option>'
        f'<data_defined_properties><Option type="Map">{option("name", "")}'
        f'<Option name="properties" type="Map">{properties}</Option>{option("type", "collection")}'
        "</Option></data_defined_properties></layer></symbol>"
    )


def alerts_qml(colours: Mapping[str, str], date_field: str | None = "first_seen", attr: str = "type") -> str:
    """The alerts' style: categorised by `attr` (one colour per type), outline by confidence (where
    there is one), and, with `date_field`, each alert shown from that date on in the temporal
    controller. A value without a colour (a chip of no alarming label) is not drawn."""
    kinds = list(colours)
    categories = "".join(
        f'<category render="true" symbol="{k}" value={quoteattr(kind)} label={quoteattr(kind)} type="string"/>'
        for k, kind in enumerate(kinds)
    )
    symbols = "".join(alert_symbol(k, colours[kind]) for k, kind in enumerate(kinds))
    temporal = (
        f'<temporal enabled="1" mode="1" startField={quoteattr(date_field)} endField="" accumulate="1" '
        'durationUnit="d" durationField="" fixedDuration="0" startExpression="" endExpression="" limitMode="0">'
        "<fixedRange><start></start><end></end></fixedRange></temporal>"
        if date_field
        else ""
    )
    return (
        f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology|Temporal">{temporal}'
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attr)} forceraster="0" symbollevels="0" '
        'enableorderby="0">'
        f"<categories>{categories}</categories><symbols>{symbols}</symbols></renderer-v2></qgis>\n"
    )


@dataclass(frozen=True)
class PaletteEntry:
    """One class of a paletted raster: its value, name and colour ('#rrggbb'; None: transparent)."""

    value: int
    label: str
    colour: str | None


def palette_qml(entries: Sequence[PaletteEntry]) -> str:
    """A class raster's style: one colour per value with its name in the legend; a class without a
    colour is transparent."""
    palette = "".join(
        f'<paletteEntry value="{e.value}" color="{e.colour or "#000000"}" alpha="{255 if e.colour else 0}" '
        f"label={quoteattr(e.label)}/>"
        for e in entries
    )
    return (
        f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">'
        '<pipe><rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">'
        f"<rasterTransparency/><colorPalette>{palette}</colorPalette></rasterrenderer></pipe></qgis>\n"
    )


def category_names_aux(entries: Sequence[PaletteEntry]) -> str:
    """GDAL's sidecar (`<raster>.aux.xml`) naming each class value, for every GDAL reader's legend."""
    names = [""] * (max(e.value for e in entries) + 1)
    for entry in entries:
        names[entry.value] = entry.label
    categories = "".join(f"<Category>{name}</Category>" for name in names)
    band = f'<PAMRasterBand band="1"><CategoryNames>{categories}</CategoryNames></PAMRasterBand>'
    return f"<PAMDataset>{band}</PAMDataset>\n"


def add_default_style(gpkg: Path, layer: str, qml: str, name: str) -> None:
    """The layer's default style in the GeoPackage's `layer_styles` table, as QGIS saves one (the
    table registered as attributes, as the GeoPackage standard asks of every table)."""
    with sqlite3.connect(gpkg) as database:
        (geometry,) = database.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
        ).fetchone()
        database.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )
        database.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles')"
        )
        database.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
            "styleQML, styleSLD, useAsDefault, description, owner, ui) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
            (layer, geometry, name, qml, "written by amazon-cls"),
        )
