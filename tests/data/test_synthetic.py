from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from amazon_cls.core.labels import LABELS, WEATHER, parse_tags
from amazon_cls.data.synthetic import write_dataset
from tests.helpers import TINY_DATA


def test_label_rules(tiny_root: Path) -> None:
    table = pd.read_csv(tiny_root / "train_v2.csv")
    tag_sets = [parse_tags(tags) for tags in table["tags"]]
    for tags in tag_sets:
        assert len(tags & set(WEATHER)) == 1
        if "cloudy" in tags:
            assert tags == {"cloudy"}
    counts = pd.Series([tag for tags in tag_sets for tag in tags]).value_counts()
    assert set(counts.index) == set(LABELS)
    assert counts["primary"] > counts["agriculture"] > counts["blow_down"]


def test_layout_and_cmyk_chips(tiny_root: Path) -> None:
    table = pd.read_csv(tiny_root / "train_v2.csv")
    assert len(table) == TINY_DATA["num_train"]
    assert len(list((tiny_root / "test-jpg").glob("*.jpg"))) == TINY_DATA["num_test"]
    with Image.open(tiny_root / "train-jpg" / f"{table.image_name[0]}.jpg") as chip:
        assert chip.mode == "CMYK" and chip.size == (32, 32)


def test_generation_is_deterministic(tmp_path: Path, tiny_root: Path) -> None:
    again = write_dataset(tmp_path / "again", **TINY_DATA)
    assert (again / "train_v2.csv").read_bytes() == (tiny_root / "train_v2.csv").read_bytes()
    for name in ("train_0.jpg", "train_77.jpg"):
        assert (again / "train-jpg" / name).read_bytes() == (tiny_root / "train-jpg" / name).read_bytes()
    other = write_dataset(tmp_path / "other", **{**TINY_DATA, "num_test": 0, "seed": TINY_DATA["seed"] + 1})
    a = np.asarray(Image.open(other / "train-jpg" / "train_0.jpg"))
    b = np.asarray(Image.open(tiny_root / "train-jpg" / "train_0.jpg"))
    assert not np.array_equal(a, b)
