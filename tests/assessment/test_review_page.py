"""review.html in a real headless browser (Debian's chromium and chromium-driver, through
selenium): keys label, a reload keeps the labels, export writes sample.csv back, nothing is
loaded from the network, and neither the stratum nor the model's labels are shown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from amazon_cls.sample import run as sample
from tests.assessment.test_sample_and_area import sample_cfg
from tests.browser import needs_browser, until

pytestmark = needs_browser


def text_of(element_id: str):
    from selenium.webdriver.common.by import By

    return lambda driver: driver.find_element(By.ID, element_id).text


def press(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def test_the_page_labels_with_keys_keeps_them_on_reload_and_exports_them(
    tmp_path: Path, monitored: Path, browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sample(sample_cfg(tmp_path, monitored))
    page = tmp_path / "sample" / "review.html"
    browser.get(page.as_uri())
    until(browser, lambda d: text_of("progress")(d) == "0 of 9 reviewed")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dates img")) == 3  # the cell at each date
    images = "#dates img"
    until(browser, lambda d: all(i.get_property("naturalWidth") > 0 for i in d.find_elements(By.CSS_SELECTOR, images)))
    strata = set(pd.read_csv(tmp_path / "sample" / "strata.csv")["stratum"])
    shown = browser.find_element(By.TAG_NAME, "header").text + browser.find_element(By.ID, "unit").text
    shown += browser.find_element(By.ID, "dates").text
    assert not [word for word in [*strata, "agriculture", "confirmed", "retracted"] if word in shown]

    press(browser, "1", "2", "3", Keys.ARROW_LEFT)  # change, no change, cannot tell; back to the third
    until(browser, lambda d: text_of("progress")(d) == "3 of 9 reviewed")
    until(browser, lambda d: text_of("unit")(d).startswith("S0003"))
    browser.find_element(By.ID, "note").send_keys("cloud over half", Keys.TAB)
    until(browser, lambda d: "cloud over half" in d.execute_script("return JSON.stringify(localStorage)"))
    browser.refresh()  # the page loaded anew: a machine busy with the other tests may take a while
    until(browser, lambda d: text_of("progress")(d) == "3 of 9 reviewed", seconds=60)  # kept in localStorage

    browser.find_element(By.ID, "export").click()
    exported = tmp_path / "downloads" / "sample.csv"
    until(browser, lambda d: exported.is_file() and exported.stat().st_size > 0, seconds=60)
    written = pd.read_csv(tmp_path / "sample" / "sample.csv", dtype=str, keep_default_na=False)
    back = pd.read_csv(exported, dtype=str, keep_default_na=False)
    assert list(back.columns) == list(written.columns)
    assert back["reference"].tolist()[:4] == ["change", "no_change", "unclear", ""]
    assert back.loc[2, "note"] == "cloud over half"
    unchanged = [c for c in written.columns if c not in ("reference", "type", "note")]
    pd.testing.assert_frame_equal(back[unchanged], written[unchanged])
    source = page.read_text()
    assert "http:" not in source and "https:" not in source and "//cdn" not in source  # nothing from the network
    loaded = browser.execute_script(
        "return [...document.querySelectorAll('img, script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert loaded and all(url.startswith("file://") for url in loaded)
