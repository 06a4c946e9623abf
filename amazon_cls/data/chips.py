"""Decoding chips to RGB uint8 arrays, the one place that knows about the CMYK JPEGs.

The real Kaggle chips are 4-component (Adobe CMYK) JPEGs. libjpeg-turbo (through simplejpeg)
converts them to RGB in the decoder and matches `PIL.Image.open(f).convert("RGB")` to within one
level; anything simplejpeg cannot read (a PNG named .jpg, say) falls back to PIL.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from amazon_cls.data.dehaze import dehaze as remove_haze


class ChipDecodeError(ValueError):
    """A chip file that cannot be decoded; the message names the file."""


def decode_rgb(data: bytes, source: str | os.PathLike = "<bytes>", min_size: int = 0) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of an encoded image, whatever its colour model.

    `min_size` lets libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale (in the DCT, much cheaper than
    decoding in full and shrinking) while both sides stay at least `min_size`.
    """
    if not data:
        raise ChipDecodeError(f"{source}: empty file (0 bytes)")
    if simplejpeg.is_jpeg(data):
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=min_size, min_width=min_size)
        except ValueError:
            pass  # let PIL try, and report its error if it fails too
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # PIL raises many types for bad files
        raise ChipDecodeError(f"{source}: cannot decode image ({error})") from error


def read_chip(path: str | os.PathLike, min_size: int = 0) -> np.ndarray:
    """Decode the chip at `path` to RGB uint8 (H, W, 3), at reduced scale down to `min_size` if given."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ChipDecodeError(f"{path}: cannot read file ({error.strerror})") from error
    return decode_rgb(data, path, min_size)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square `size` x `size`: area averaging when shrinking (no aliasing), bilinear when enlarging."""
    if image.shape[0] == image.shape[1] == size:
        return image
    shrinking = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def load_chip(path: str | os.PathLike, size: int, dehaze: bool = False) -> np.ndarray:
    """The chip at `path` as the model sees it: RGB uint8 (size, size, 3), decoded at the cheapest
    scale, and with its haze removed (dark channel prior) when `dehaze` is set."""
    chip = resize(read_chip(path, min_size=size), size)
    return remove_haze(chip) if dehaze else chip


def encode_cmyk_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """Encode an RGB uint8 array as a 4-component JPEG, the way the Kaggle chips are stored."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
