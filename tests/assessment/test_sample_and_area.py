"""sample and area on a monitor run of the embedded data set's chips with placed changes (the
oracle of the monitor tests stands in for the model, so the map is known), and their bad inputs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from amazon_cls.area import run as area
from amazon_cls.assessment.sampling import sample as sample_of
from amazon_cls.geo.grid import hectares
from amazon_cls.sample import run as sample
from tests.geo.test_monitor import DATES
from tests.helpers import compose_config, fails_on_a_full_disk, needs_tmpfs, small_disk

SAMPLE = ["size=9", "min_per_stratum=2", "target_se=null"]


def sample_cfg(tmp_path: Path, run: Path, *extra: str):
    overrides = [f"monitor={run}", f"output_dir={tmp_path / 'sample'}", *SAMPLE, *extra]
    return compose_config("sample", overrides, tmp_path / "hydra")


def area_cfg(tmp_path: Path, reviewed: Path, *extra: str):
    return compose_config("area", [f"sample={reviewed}", f"output_dir={tmp_path / 'area'}", *extra], tmp_path / "h")


def test_the_strata_are_the_maps_classes_with_ground_areas(tmp_path: Path, monitored: Path) -> None:
    record = sample(sample_cfg(tmp_path, monitored))
    strata = pd.read_csv(tmp_path / "sample" / "strata.csv").set_index("stratum")
    assert strata.loc["alert_agriculture", "cells"] == 2 and strata.loc["retracted", "cells"] == 1
    assert strata["cells"].sum() == 16 and strata["area_ha"].sum() == pytest.approx(16 * 96**2 / 1e4)
    assert strata.loc["retracted", "sampled"] == 0 and strata.loc["alert_mines", "sampled"] == 0  # one cell each
    assert strata.loc["alert_agriculture", "sampled"] == 2 and strata["sampled"].sum() == 9
    units = pd.read_csv(tmp_path / "sample" / "sample.csv", dtype=str, keep_default_na=False)
    assert list(units.columns) == [
        "sample_id",
        "stratum",
        "row",
        "col",
        "x",
        "y",
        "lon",
        "lat",
        "start",
        "end",
        "reference",
        "type",
        "note",
    ]
    assert (units["start"] == DATES[0]).all() and (units["end"] == DATES[2]).all() and (units["reference"] == "").all()
    assert units["sample_id"].tolist() == [f"S{k:04d}" for k in range(1, 10)]
    assert record["settings"]["size"] == 9
    pictures = sorted((tmp_path / "sample" / "review").iterdir())
    assert len(pictures) == 9 * 3  # every unit at every date


def test_the_draw_is_reproducible_and_the_same_command_does_nothing(tmp_path: Path, monitored: Path) -> None:
    sample(sample_cfg(tmp_path, monitored))
    first = (tmp_path / "sample" / "sample.csv").read_bytes()
    stamp = (tmp_path / "sample" / "sample.json").stat().st_mtime_ns
    sample(sample_cfg(tmp_path, monitored))
    assert (tmp_path / "sample" / "sample.json").stat().st_mtime_ns == stamp  # nothing to do
    sample(sample_cfg(tmp_path, monitored, "seed=1"))
    assert (tmp_path / "sample" / "sample.csv").read_bytes() != first
    sample(sample_cfg(tmp_path, monitored, "seed=0"))
    assert (tmp_path / "sample" / "sample.csv").read_bytes() == first


def test_a_target_standard_error_sets_the_size(tmp_path: Path, monitored: Path) -> None:
    loose = sample_of(sample_cfg(tmp_path, monitored, "size=null", "target_se=0.2"))
    tight = sample_of(sample_cfg(tmp_path / "2", monitored, "size=null", "target_se=0.05"))
    assert sum(s["sampled"] for s in loose["strata"]) < sum(s["sampled"] for s in tight["strata"])


def review_as_truth(run: Path, reviewed: Path, truth: dict[tuple[int, int], str]) -> Path:
    """Fill `reference` as a reviewer who knows what was placed would."""
    units = pd.read_csv(run / "sample.csv", dtype=str, keep_default_na=False)
    units["reference"] = [
        truth.get((int(r), int(c)), "no_change") for r, c in zip(units["row"], units["col"], strict=True)
    ]
    units.to_csv(reviewed, index=False)
    return reviewed


def test_area_estimates_the_placed_change(tmp_path: Path, monitored: Path) -> None:
    sample(sample_cfg(tmp_path, monitored, "size=12", "min_per_stratum=3"))
    placed = {(0, 0): "change", (0, 1): "change", (1, 3): "change"}  # the road was never cut
    reviewed = review_as_truth(tmp_path / "sample", tmp_path / "sample" / "reviewed.csv", placed)
    record = area(area_cfg(tmp_path, reviewed))
    change = next(row for row in record["area"] if row["class"] == "change")
    assert change["mapped_area_ha"] == pytest.approx(2 * 0.9216)  # the agriculture stratum (the mine is one cell)
    assert change["ci95_low_ha"] <= change["estimated_area_ha"] <= change["ci95_high_ha"]
    accuracy = {row["measure"]: row["value"] for row in record["accuracy"]}
    assert accuracy["users_accuracy alert_agriculture"] == 1.0
    report = (tmp_path / "area" / "area.md").read_text()
    assert "design-based" in report and "Overall accuracy says little when change is rare" in report
    matrix = pd.read_csv(tmp_path / "area" / "error_matrix.csv")
    assert matrix["count"].sum() == 12 and matrix["proportion"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            "vocabulary",
            r"reviewed\.csv: reference must be one of change, no_change, unclear or empty, not: row 2 \('yes'\)",
        ),
        ("duplicate", r"reviewed\.csv: sample_id given twice: row 2 \(S0001\), row 3 \(S0001\)"),
        ("strata", r"reviewed\.csv: strata \['alert_nothing'\] are not in .*strata\.csv"),
        ("too_few", r"reviewed\.csv: strata with fewer than 2 reviewed units: \['alert_agriculture'\]"),
    ],
)
def test_a_bad_reviewed_sample_is_named_with_its_problem(
    tmp_path: Path, monitored: Path, edit: str, message: str
) -> None:
    sample(sample_cfg(tmp_path, monitored))
    units = pd.read_csv(tmp_path / "sample" / "sample.csv", dtype=str, keep_default_na=False)
    units["reference"] = "no_change"
    if edit == "vocabulary":
        units.loc[0, "reference"] = "yes"
    elif edit == "duplicate":
        units.loc[1, "sample_id"] = units.loc[0, "sample_id"]
    elif edit == "strata":
        units.loc[0, "stratum"] = "alert_nothing"
    else:
        units.loc[units["stratum"] == "alert_agriculture", "reference"] = ["unclear", "no_change"]
    units.to_csv(tmp_path / "sample" / "reviewed.csv", index=False)
    with pytest.raises(ValueError, match=message):
        area(area_cfg(tmp_path, tmp_path / "sample" / "reviewed.csv"))


def test_a_folder_that_is_not_a_finished_monitor_run_is_refused(tmp_path: Path, monitored: Path) -> None:
    (monitored / "history.csv").write_text("edited\n")
    with pytest.raises(ValueError, match=r"monitor=.*out: not a finished monitor run \(its outputs changed since"):
        sample(sample_cfg(tmp_path, monitored))
    with pytest.raises(ValueError, match=r"not a finished monitor run \(has no monitor.json\)"):
        sample(sample_cfg(tmp_path, tmp_path))


def test_a_reviewed_sample_is_never_drawn_over(tmp_path: Path, monitored: Path) -> None:
    sample(sample_cfg(tmp_path, monitored))
    review_as_truth(tmp_path / "sample", tmp_path / "sample" / "sample.csv", {})
    with pytest.raises(ValueError, match=r"sample\.csv: holds 9 reviewed units"):
        sample(sample_cfg(tmp_path, monitored, "seed=3"))


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326"])
@pytest.mark.parametrize(("zone", "north"), [("EPSG:32722", 6_680_000), ("EPSG:32721", 7_790_000)])  # 30 S, 20 S
def test_cell_areas_are_ground_areas_whatever_the_grids_crs(crs: str, zone: str, north: float) -> None:
    """Cells of 1 km (Web Mercator inflates areas by a third at 30 degrees south, an eighth at 20)."""
    utm = [shapely.box(500_000 + 1000 * k, north, 501_000 + 1000 * k, north + 1000) for k in range(3)]
    cells = gpd.GeoDataFrame(geometry=utm, crs=zone).to_crs(crs)
    cells = gpd.GeoDataFrame(geometry=[shapely.box(*polygon.bounds) for polygon in cells.geometry], crs=crs)
    geod = Geod(ellps="WGS84")
    geodesic = [abs(geod.geometry_area_perimeter(p)[0]) / 1e4 for p in cells.to_crs("EPSG:4326").geometry]
    np.testing.assert_allclose(hectares(cells), geodesic, rtol=1e-6)
    assert np.all(np.abs(np.asarray(geodesic) / 100 - 1) < 0.01)  # about 100 ha each, not 113 or 133


@needs_tmpfs
def test_a_full_disk_keeps_the_previous_sample_and_area(tmp_path: Path, monitored: Path) -> None:
    with small_disk(tmp_path / "sample"), small_disk(tmp_path / "area"):
        sample(sample_cfg(tmp_path, monitored))
        fails_on_a_full_disk(tmp_path / "sample", lambda: sample(sample_cfg(tmp_path, monitored, "seed=5")), 8000)
        (tmp_path / "sample" / "filler").unlink()
        reviewed = review_as_truth(tmp_path / "sample", tmp_path / "reviewed.csv", {(0, 0): "change"})
        strata = f"strata={tmp_path / 'sample' / 'strata.csv'}"
        area(area_cfg(tmp_path, reviewed, strata))
        reviewed.write_text(reviewed.read_text().replace(",no_change,", ",unclear,", 1))  # another estimate
        fails_on_a_full_disk(tmp_path / "area", lambda: area(area_cfg(tmp_path, reviewed, strata)), 2000)


def test_regions_restrict_the_sample_and_give_estimates_where_the_sample_allows(
    tmp_path: Path, monitored: Path
) -> None:
    """The 4 x 4 grid cut into the west three columns and the east column (UTM 21S, 96 m cells)."""
    origin, cell = (500_000.0, 9_650_000.0), 96.0
    border = origin[0] + 3 * cell
    west = shapely.box(origin[0] - 10, origin[1] - 4 * cell - 10, border, origin[1] + 10)
    east = shapely.box(border, origin[1] - 4 * cell - 10, origin[0] + 4 * cell + 10, origin[1] + 10)
    regions = gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=[west, east], crs="EPSG:32721")
    regions.to_file(tmp_path / "regions.gpkg", driver="GPKG")
    given = [f"regions={tmp_path / 'regions.gpkg'}", "region_key=name", "size=12", "min_per_stratum=3"]
    sample(sample_cfg(tmp_path, monitored, *given))
    units = pd.read_csv(tmp_path / "sample" / "sample.csv", dtype=str, keep_default_na=False)
    assert set(units["region"]) <= {"west", "east"} and "region" in units.columns
    by_region = pd.read_csv(tmp_path / "sample" / "strata_by_region.csv")
    assert by_region.groupby("region")["cells"].sum().to_dict() == {"east": 4, "west": 12}
    placed = {(0, 0): "change", (0, 1): "change", (1, 3): "change"}
    reviewed = review_as_truth(tmp_path / "sample", tmp_path / "sample" / "reviewed.csv", placed)
    area(area_cfg(tmp_path, reviewed))
    estimates = pd.read_csv(tmp_path / "area" / "area_by_region.csv", keep_default_na=False).set_index("region")
    assert set(estimates.index) == {"west", "east"}
    for region, row in estimates.iterrows():  # an estimate, or the reason there is none
        assert row["note"] or row["ci95_low_ha"] <= row["estimated_area_ha"] <= row["ci95_high_ha"], region
    assert "## By region" in (tmp_path / "area" / "area.md").read_text()


def test_the_monitor_report_calls_its_precision_model_based_and_names_the_way_to_a_design_based_one(
    monitored: Path,
) -> None:
    report = (monitored / "report.md").read_text()
    assert "**model-based (out-of-fold Kaggle chips, single-date)**" in report
    assert (
        f"python -m amazon_cls.sample monitor={monitored}" in report and "python -m amazon_cls.area sample=" in report
    )
    cells = pd.read_csv(monitored / "cells.csv")
    assert len(cells) == 16 and sorted((monitored / "chips").iterdir())  # what sample reads: no scene again
