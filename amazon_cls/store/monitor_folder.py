"""A monitor run's output folder, defined once: the names of its files.

- `alerts.geojson`, `alerts.gpkg`: the merged alert polygons (EPSG:4326; the grid's CRS)
- `alert_cells.geojson`: one feature per cell alert, with its probabilities before and after
- `alerts.qml`, `alert_cells.qml`: their QGIS styles (the GeoPackage holds its own, in `layer_styles`)
- `alerts.html`: an interactive map of the alerts over the first and last scenes, offline
- `history.csv`: cell x date: observable, tags and the 17 probabilities of every cell read
- `cells.csv`: every cell once: where it is, its ground area, how often observable and forest,
  its latest alert (what `sample` stratifies by)
- `chips/<date>.tif`: each date's RGB on the grid, for reviewers (`sample`)
- `tiles/<date>.vrt`, `tiles/<date>_mask.vrt`: a date's tiles (STAC items of one date) as one raster
- `regions.csv`: with regions, the alert area per region, type and date
- `timeline.png`, `report.md`, `evidence/<alert_id>.png`: what a person reads
- `predictions/<date>_<scene>_probs.csv` and `.json`: each date's probabilities and their record
- `monitor.json`: the record of the run, written last (`store.done`)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from amazon_cls.store.folder import File


@dataclass(frozen=True)
class MonitorFolder:
    path: Path

    alerts_geojson = File("alerts.geojson")
    alerts_gpkg = File("alerts.gpkg")
    alert_cells = File("alert_cells.geojson")
    alerts_style = File("alerts.qml")  # QGIS loads a style of the layer's name beside it
    alert_cells_style = File("alert_cells.qml")
    web_map = File("alerts.html")
    history = File("history.csv")
    cells = File("cells.csv")
    regions = File("regions.csv")
    timeline = File("timeline.png")
    report = File("report.md")
    record = File("monitor.json")
    predictions = File("predictions")

    def chips(self, day: date | str) -> Path:
        """A date's RGB on the grid (`day`: a date, or its ISO text as monitor.json keeps it)."""
        return self.path / "chips" / f"{day}.tif"

    def tiles(self, day: date | str, mask: bool = False) -> Path:
        """A date's tiles (or their masks) as one raster: a VRT over them (`geo.mosaic`)."""
        return self.path / "tiles" / f"{day}{'_mask' if mask else ''}.vrt"

    def evidence(self, alert_id: str) -> Path:
        return self.path / "evidence" / f"{alert_id}.png"

    def prediction(self, day: date, scene: Path) -> tuple[Path, Path]:
        """A date's probability table and the record that it was predicted."""
        stem = f"{day.isoformat()}_{scene.stem}"
        return self.predictions / f"{stem}_probs.csv", self.predictions / f"{stem}.json"

    def outputs(self) -> list[Path]:
        """The files every finished run has (regions and evidence come with their options)."""
        return [
            self.alerts_geojson,
            self.alerts_gpkg,
            self.alert_cells,
            self.alerts_style,
            self.alert_cells_style,
            self.web_map,
            self.history,
            self.cells,
            self.timeline,
            self.report,
        ]
