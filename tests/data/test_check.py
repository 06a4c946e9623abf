"""Bad input: each case built here, each message naming the file or row and the problem."""

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from amazon_cls.check import report
from amazon_cls.data.check import bad_rows_of, check_dataset
from amazon_cls.data.decode import encode_cmyk_jpeg
from amazon_cls.data.layout import DataError, Layout, read_labels_csv
from amazon_cls.data.sources import SOURCES
from tests.helpers import compose_config, smooth_rgb

JPG = SOURCES["jpg"]


@pytest.fixture()
def root(tmp_path: Path, tiny_root: Path) -> Path:
    """A writable copy of the first 40 chips of the tiny data set."""
    copy = tmp_path / "data"
    (copy / "train-jpg").mkdir(parents=True)
    table = pd.read_csv(tiny_root / "train_v2.csv").head(40)
    table.to_csv(copy / "train_v2.csv", index=False)
    for name in table["image_name"]:
        shutil.copy(tiny_root / "train-jpg" / f"{name}.jpg", copy / "train-jpg")
    return copy


def chip(root: Path, name: str) -> Path:
    return root / "train-jpg" / f"{name}.jpg"


def problems_of(root: Path):
    return check_dataset(Layout(root, JPG))


def edit_csv(root: Path, edit) -> None:
    table = pd.read_csv(root / "train_v2.csv", dtype=str, keep_default_na=False)
    edit(table).to_csv(root / "train_v2.csv", index=False)


def test_clean_data_has_no_problems(root: Path) -> None:
    _, _, problems, bad = problems_of(root)
    assert not problems.fatal and not problems.notes and not bad


def test_truncated_jpeg(root: Path) -> None:
    data = chip(root, "train_3").read_bytes()
    chip(root, "train_3").write_bytes(data[: len(data) // 2])
    _, _, problems, bad = problems_of(root)
    (message,) = problems.fatal["unreadable chip"]
    assert message.startswith(f"{chip(root, 'train_3')}: cannot decode image") and bad == {3}


def test_zero_byte_file(root: Path) -> None:
    chip(root, "train_4").write_bytes(b"")
    _, _, problems, _ = problems_of(root)
    assert problems.fatal["unreadable chip"] == [f"{chip(root, 'train_4')}: empty file (0 bytes)"]


def test_png_named_jpg_is_decoded_and_reported(root: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(smooth_rgb(0, size=32)).save(buffer, format="PNG")
    chip(root, "train_5").write_bytes(buffer.getvalue())
    _, _, problems, bad = problems_of(root)
    assert problems.notes["image of another kind"] == [
        f"{chip(root, 'train_5')}: a PNG image (RGB) named .jpg; decoded and converted to RGB"
    ]
    assert not problems.fatal and not bad


def test_grayscale_and_rgba_chips_are_converted_and_reported(root: Path) -> None:
    Image.fromarray(smooth_rgb(1, size=32)).convert("L").save(chip(root, "train_6"), format="JPEG")
    buffer = io.BytesIO()
    Image.fromarray(smooth_rgb(2, size=32)).convert("RGBA").save(buffer, format="PNG")
    chip(root, "train_7").write_bytes(buffer.getvalue())
    _, _, problems, bad = problems_of(root)
    assert sorted(problems.notes["image of another kind"]) == [
        f"{chip(root, 'train_6')}: Gray JPEG, converted to RGB",
        f"{chip(root, 'train_7')}: a PNG image (RGBA) named .jpg; decoded and converted to RGB",
    ]
    assert not bad


def test_chip_of_another_size(root: Path) -> None:
    chip(root, "train_8").write_bytes(encode_cmyk_jpeg(smooth_rgb(3, size=48)))
    _, _, problems, bad = problems_of(root)
    assert problems.fatal["chip of another size"] == [f"{chip(root, 'train_8')}: 48x48 px, the others are 32x32"]
    assert bad == {8}


def test_row_without_image_and_image_without_row(root: Path) -> None:
    chip(root, "train_9").unlink()
    chip(root, "train_11").rename(root / "train-jpg" / "stray.jpg")
    _, _, problems, bad = problems_of(root)
    assert problems.fatal["missing image file"] == [
        f"{root / 'train_v2.csv'} row 11: {chip(root, 'train_9')} does not exist",
        f"{root / 'train_v2.csv'} row 13: {chip(root, 'train_11')} does not exist",
    ]
    assert problems.notes["image without a CSV row (ignored)"] == [str(root / "train-jpg" / "stray.jpg")]
    assert bad == {9, 11}


def test_unknown_tag_names_row_and_tag(root: Path) -> None:
    edit_csv(root, lambda t: t.assign(tags=t["tags"].where(t.index != 2, "clear primary rainforest")))
    _, _, problems, bad = problems_of(root)
    assert problems.fatal["unknown tag"] == [f"{root / 'train_v2.csv'} row 4 (train_2): unknown tag 'rainforest'"]
    assert bad == {2}


def test_rows_without_tags_or_weather_are_counted_notes(root: Path) -> None:
    edit_csv(root, lambda t: t.assign(tags=t["tags"].where(~t.index.isin([1]), "").where(t.index != 2, "primary")))
    _, _, problems, bad = problems_of(root)
    assert problems.notes["row without tags"] == [f"{root / 'train_v2.csv'} row 3 (train_1)"]
    assert problems.notes["row without a weather tag"] == [f"{root / 'train_v2.csv'} row 4 (train_2): primary"]
    assert not problems.fatal and not bad


def test_duplicate_image_names(root: Path) -> None:
    edit_csv(root, lambda t: pd.concat([t, t.iloc[[5]]]))
    _, _, problems, bad = problems_of(root)
    assert problems.fatal["duplicate image name"] == [f"{root / 'train_v2.csv'} row 42 (train_5): also on row 7"]
    assert bad == {40}


def test_csv_not_utf8_or_without_columns(root: Path) -> None:
    (root / "train_v2.csv").write_bytes("image_name,tags\ntrain_0,clear primary caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train_v2\.csv: not UTF-8 text"):
        read_labels_csv(root / "train_v2.csv")
    (root / "train_v2.csv").write_text("name,labels\ntrain_0,clear\n")
    with pytest.raises(DataError, match=r"train_v2\.csv: missing column\(s\) \['image_name', 'tags'\]"):
        read_labels_csv(root / "train_v2.csv")


def test_fail_lists_problems_with_counts_and_skip_leaves_bad_chips_out(root: Path, tmp_path: Path) -> None:
    for name in ("train_3", "train_4", "train_5"):
        chip(root, name).write_bytes(b"")
    with pytest.raises(DataError, match=r"error: unreadable chip: 3 cases") as error:
        bad_rows_of(Layout(root, JPG), tmp_path / "check")
    assert "data.on_bad_chip=skip" in str(error.value)
    assert bad_rows_of(Layout(root, JPG), tmp_path / "check", "skip") == [3, 4, 5]


def test_check_command_prints_a_summary(root: Path, tmp_path: Path) -> None:
    text, fatal = report(compose_config("check", [f"data.root={root}"], tmp_path / "run"))  # what main prints
    assert f"{root}: 40 chips in train_v2.csv, 0 bad" in text and not fatal
    assert "no problems found" in text
    chip(root, "train_0").write_bytes(b"")
    text, fatal = report(compose_config("check", [f"data.root={root}"], tmp_path / "run2"))  # what main prints
    assert fatal  # main exits with status 1
    assert "error: unreadable chip: 1 case" in text
    assert f"{chip(root, 'train_0')}: empty file (0 bytes)" in text
