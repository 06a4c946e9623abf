import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amazon_cls.data.chips import ChipDecodeError, encode_cmyk_jpeg, read_chip


def smooth_rgb(seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((size, size), Image.BILINEAR))


@pytest.mark.parametrize("seed", range(3))
def test_cmyk_jpeg_decodes_like_pil_convert_rgb(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "chip.jpg"
    path.write_bytes(encode_cmyk_jpeg(smooth_rgb(seed)))
    with Image.open(path) as image:
        assert image.mode == "CMYK"  # really a 4-component JPEG, like the Kaggle chips
        reference = np.asarray(image.convert("RGB")).astype(int)
    decoded = read_chip(path)
    assert decoded.shape == (64, 64, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - reference).max() <= 1


def test_cmyk_decode_is_not_inverted(tmp_path: Path) -> None:
    rgb = smooth_rgb(5)
    path = tmp_path / "chip.jpg"
    path.write_bytes(encode_cmyk_jpeg(rgb))
    assert np.abs(read_chip(path).astype(int) - rgb).mean() < 4


def test_png_with_jpg_name_is_decoded(tmp_path: Path) -> None:
    rgb = smooth_rgb(1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    path = tmp_path / "chip.jpg"
    path.write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(read_chip(path), rgb)


def test_empty_and_garbage_files_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ChipDecodeError, match=r"empty\.jpg: empty file"):
        read_chip(empty)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ChipDecodeError, match=r"garbage\.jpg: cannot decode"):
        read_chip(garbage)
