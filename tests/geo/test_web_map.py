"""alerts.html in a real headless browser with no network: it loads without a console error,
draws one polygon per alert over the scenes, and a click on an alert opens its popup with where,
when and its evidence image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amazon_cls.geo.change.monitoring import monitor
from tests.browser import needs_browser, until
from tests.geo.test_monitor import DATES, LOADER, Oracle, monitor_cfg, write_series

pytestmark = needs_browser


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_alerts_page_draws_every_alert_offline_and_a_click_shows_its_evidence(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle, browser
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    monitor(monitor_cfg(tmp_path, write_series(tmp_path, chips_by_tags, DATES[:3])), LOADER, oracle)
    alerts = json.loads((tmp_path / "out" / "alerts.geojson").read_text())["features"]
    page = tmp_path / "out" / "alerts.html"
    browser.get(page.as_uri())
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) == len(alerts))
    assert len(browser.find_elements(By.CSS_SELECTOR, "img.leaflet-image-layer")) == 1  # the last scene, shown
    layers = [label.text.strip() for label in browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers label")]
    assert layers == [f"scene of {DATES[0]}", f"scene of {DATES[2]}", f"alerts first seen {DATES[1]}"]
    mine = next(a["properties"] for a in alerts if a["properties"]["type"] == "mines")
    x, y = browser.execute_script(  # where the alert is drawn, in the map's pixels
        "const [layer] = Object.values(map._layers)"
        "  .filter((l) => l.feature && l.feature.properties.alert_id === arguments[0]);"
        "const point = map.latLngToContainerPoint(layer.getBounds().getCenter()); return [point.x, point.y];",
        mine["alert_id"],
    )
    box = browser.find_element(By.ID, "map")
    ActionChains(browser).move_to_element_with_offset(
        box, x - box.size["width"] / 2, y - box.size["height"] / 2
    ).click().perform()
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content img"))
    popup = browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content")
    said = popup.get_attribute("textContent")
    assert mine["alert_id"] in said and "mines" in said and f"{mine['lat']}" in said and "alerted cell area" in said
    image = popup.find_element(By.TAG_NAME, "img")
    until(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert image.get_attribute("src").endswith(f"evidence/{mine['alert_id']}.png")
    assert console_errors(browser) == []


def test_web_tiles_come_only_when_asked_for(tmp_path: Path, chips_by_tags: dict, oracle: Oracle, browser) -> None:
    from selenium.webdriver.common.by import By

    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    monitor(monitor_cfg(tmp_path, scenes, "basemap=osm"), LOADER, oracle)
    browser.get((tmp_path / "out" / "alerts.html").as_uri())
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive"))
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-tile-pane img")  # asked for: tried (no network here)
    assert browser.find_elements(By.CSS_SELECTOR, "img.leaflet-image-layer")  # and the page still draws
    with pytest.raises(ValueError, match=r"basemap='google': choose one of \['osm'\]"):
        from amazon_cls.geo.web import page

        page("t", [], [], {}, "google")


def test_the_map_page_draws_every_chip_and_names_its_labels(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle, browser
) -> None:
    from selenium.webdriver.common.by import By

    from amazon_cls.geo.mapping import map_scenes
    from tests.helpers import compose_config

    scene = write_series(tmp_path, chips_by_tags, DATES[1:2])[0]
    overrides = [f"scene=[{scene}]", f"output_dir={tmp_path / 'map'}", "chip_size=32", "outputs=[html]"]
    map_scenes(compose_config("map", overrides, tmp_path / "hydra"), LOADER, oracle)
    browser.get((tmp_path / "map" / f"{scene.stem}_map.html").as_uri())
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) == 16)  # 4 x 4 chips
    kinds = browser.execute_script(
        "return Object.values(map._layers).filter((l) => l.feature).map((l) => l.feature.properties.type)"
    )
    assert sorted(set(kinds)) == ["agriculture", "mines", "none", "road"]  # the placed fields, mine and road
    assert console_errors(browser) == []
