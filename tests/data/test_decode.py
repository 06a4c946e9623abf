import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import amazon_cls.data.decode as chips_module
from amazon_cls.data.decode import ChipDecodeError, decode_rgb, encode_cmyk_jpeg, read_chip
from amazon_cls.data.sources import SOURCES
from tests.helpers import ROOT, smooth_rgb

PLANET_DEV = ROOT.parent / "shared" / "data" / "planet-dev" / "images"

JPG = SOURCES["jpg"]


@pytest.mark.parametrize("seed", range(3))
def test_cmyk_jpeg_decodes_like_pil_convert_rgb(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "chip.jpg"
    path.write_bytes(encode_cmyk_jpeg(smooth_rgb(seed)))
    with Image.open(path) as image:
        assert image.mode == "CMYK"  # really a 4-component JPEG, like the Kaggle chips
        reference = np.asarray(image.convert("RGB"))
    decoded = read_chip(path, JPG)
    assert decoded.shape == (64, 64, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, reference)


def test_cmyk_decode_is_not_inverted(tmp_path: Path) -> None:
    rgb = smooth_rgb(5)
    path = tmp_path / "chip.jpg"
    path.write_bytes(encode_cmyk_jpeg(rgb))
    assert np.abs(read_chip(path, JPG).astype(int) - rgb).mean() < 4


def test_png_with_jpg_name_is_decoded(tmp_path: Path) -> None:
    rgb = smooth_rgb(1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    path = tmp_path / "chip.jpg"
    path.write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(read_chip(path, JPG), rgb)


def test_empty_and_garbage_files_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ChipDecodeError, match=r"empty\.jpg: empty file"):
        read_chip(empty, JPG)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ChipDecodeError, match=r"garbage\.jpg: cannot decode"):
        read_chip(garbage, JPG)


def without_pil(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the PIL fallback fail, so that only the fast decoder can produce pixels."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the PIL fallback decoded a chip that the fast decoder should have")

    monkeypatch.setattr(chips_module.Image, "open", refuse)


def test_chips_laid_out_like_kaggle_take_the_fast_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chip.jpg"
    path.write_bytes(encode_cmyk_jpeg(smooth_rgb(2)))
    assert path.read_bytes()[:4] == b"\xff\xd8\xff\xdb"  # quantisation tables first, as in train-jpg
    with Image.open(path) as image:
        reference = np.asarray(image.convert("RGB"))
    without_pil(monkeypatch)
    np.testing.assert_array_equal(read_chip(path, JPG), reference)


@pytest.mark.skipif(not PLANET_DEV.is_dir(), reason="needs ../shared/data/planet-dev")
def test_real_chips_take_the_fast_decoder_and_give_pil_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted(PLANET_DEV.glob("*.jpg"))
    references = []
    for path in paths:
        with Image.open(path) as image:
            assert image.mode == "CMYK"
            references.append(np.asarray(image.convert("RGB")))
    without_pil(monkeypatch)
    for path, reference in zip(paths, references, strict=True):
        np.testing.assert_array_equal(read_chip(path, JPG), reference, err_msg=str(path))


def test_cmyk_with_black_ink_gives_pil_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kaggle chips have K = 0; other CMYK JPEGs go through Pillow's full formula."""
    cmyk = np.random.default_rng(0).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").resize((64, 64)).save(buffer, format="JPEG", quality=95)
    with Image.open(buffer) as image:
        reference = np.asarray(image.convert("RGB"))
    without_pil(monkeypatch)
    np.testing.assert_array_equal(decode_rgb(buffer.getvalue()), reference)


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_ycbcr_jpeg_gives_pil_pixels(subsampling: int, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.fromarray(smooth_rgb(4)).save(buffer, format="JPEG", quality=90, subsampling=subsampling)
    with Image.open(buffer) as image:
        reference = np.asarray(image.convert("RGB"))
    without_pil(monkeypatch)
    np.testing.assert_array_equal(decode_rgb(buffer.getvalue()), reference)
