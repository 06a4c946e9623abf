from pathlib import Path

from PIL import Image

from amazon_cls.data.eda import write_report
from amazon_cls.data.layout import Layout
from amazon_cls.data.sources import SOURCES
from tests.helpers import TINY_DATA

JPG = SOURCES["jpg"]


def test_eda_writes_plots_and_summary(tiny_root: Path, tmp_path: Path) -> None:
    summary = write_report(Layout(tiny_root, JPG), tmp_path / "eda")
    text = summary.read_text()
    chips = TINY_DATA["num_train"]
    assert f"{chips} labelled chips of 32x32 px" in text
    assert f"chips with exactly one weather label: {chips}" in text
    for name in ("label_frequency", "cooccurrence", "mean_colour", "examples"):
        with Image.open(tmp_path / "eda" / f"{name}.png") as plot:
            assert plot.width > 300
