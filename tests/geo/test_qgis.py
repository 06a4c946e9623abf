"""The styles as QGIS itself reads them (Debian's python3-qgis, run headless in its own Python):
alerts.gpkg's default style from its layer_styles table and alerts.geojson's sidecar QML give a
categorised renderer on `type`; loading the QML sets the temporal controller on `first_seen`; the
class raster's sidecar gives a paletted renderer whose "none" is transparent and whose classes
have names. CI installs QGIS; elsewhere the test is skipped without it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from amazon_cls.geo.change.monitoring import monitor
from amazon_cls.geo.mapping import map_scenes
from tests.geo.test_monitor import DATES, LOADER, Oracle, monitor_cfg, write_series
from tests.helpers import compose_config

SYSTEM_PYTHON = "/usr/bin/python3"


def qgis_available() -> bool:
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    found = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True)
    return found.returncode == 0


MISSING = "needs QGIS's Python bindings (apt: python3-qgis); CI installs them"
if os.environ.get("CI") and not qgis_available():
    raise RuntimeError(f"the QGIS test must run in CI: it {MISSING}")
pytestmark = pytest.mark.skipif(not qgis_available(), reason=MISSING)

READ = """
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
found = {}
for name, uri in (("gpkg", sys.argv[1] + "|layername=alerts"), ("geojson", sys.argv[2])):
    layer = QgsVectorLayer(uri, name, "ogr")
    renderer = layer.renderer()
    found[name] = {"valid": layer.isValid(), "renderer": renderer.type(), "attr": renderer.classAttribute(),
                   "categories": [c.value() for c in renderer.categories()]}
layer = QgsVectorLayer(sys.argv[2], "styled", "ogr")
layer.loadNamedStyle(sys.argv[3])
temporal = layer.temporalProperties()
found["temporal"] = [temporal.isActive(), temporal.startField()]
raster = QgsRasterLayer(sys.argv[4], "classes")
palette = raster.renderer()
found["classes"] = [palette.type(), [[c.value, c.label, c.color.alpha()] for c in palette.classes()]]
print(json.dumps(found), flush=True)
os._exit(0)  # QGIS's own teardown can crash a headless process after the work is done
"""


def test_qgis_opens_the_layers_styled(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    from amazon_cls.core.labels import ALARMS

    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    overrides = [f"scene=[{scenes[1]}]", f"output_dir={tmp_path / 'map'}", "chip_size=32", "outputs=[classes]"]
    map_scenes(compose_config("map", overrides, tmp_path / "hydra"), LOADER, oracle)
    out = tmp_path / "out"
    files = [
        out / "alerts.gpkg",
        out / "alerts.geojson",
        out / "alerts.qml",
        tmp_path / "map" / f"{scenes[1].stem}_classes.tif",
    ]
    done = subprocess.run([SYSTEM_PYTHON, "-c", READ, *map(str, files)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("gpkg", "geojson"):
        assert found[name] == {
            "valid": True,
            "renderer": "categorizedSymbol",
            "attr": "type",
            "categories": list(ALARMS),
        }
    assert found["temporal"] == [True, "first_seen"]
    kind, classes = found["classes"]
    assert (
        kind == "paletted" and classes[0] == [0, "none", 0] and classes[1][:2] == [1, "mines"] and classes[1][2] == 255
    )
