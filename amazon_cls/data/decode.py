"""Decoding chip files into arrays: the decoders data sources use (`data.sources`), and the one
place that knows about the competition's CMYK JPEGs.

The real Kaggle chips are 4-component (CMYK) JPEGs with no JFIF or Adobe segment and 35 bytes
after their end-of-image marker. libjpeg-turbo (through simplejpeg) decodes them, and the CMYK
pixels are converted to RGB as Pillow converts them, so that the result is exactly
`PIL.Image.open(f).convert("RGB")`; anything simplejpeg cannot read (a PNG named .jpg, say) goes
to PIL itself.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import simplejpeg
import tifffile
from PIL import Image

from amazon_cls.data.dehaze import dehaze as remove_haze

if TYPE_CHECKING:
    from amazon_cls.data.sources import Source


class ChipDecodeError(ValueError):
    """A chip file that cannot be decoded; the message names the file."""


def is_jpeg(data: bytes) -> bool:
    """Starts with a JPEG start-of-image marker. (`simplejpeg.is_jpeg` also wants the end-of-image
    marker at the very end, which the real Kaggle chips lack: see `KAGGLE_TRAILER`.)"""
    return data[:3] == b"\xff\xd8\xff"


def decode_rgb(data: bytes, source: str | os.PathLike = "<bytes>", min_size: int = 0) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of an encoded image, whatever its colour model: the pixels of
    `PIL.Image.open(...).convert("RGB")`, decoded faster.

    `min_size` lets libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale (in the DCT, much cheaper than
    decoding in full and shrinking) while both sides stay at least `min_size`.
    """
    if not data:
        raise ChipDecodeError(f"{source}: empty file (0 bytes)")
    if is_jpeg(data):
        try:
            return decode_jpeg(data, min_size)
        except ValueError:
            pass  # let PIL try, and report its error if it fails too
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as error:  # PIL raises many types for bad files
        raise ChipDecodeError(f"{source}: cannot decode image ({error})") from error
    return eight_bit_rgb(image, source)


def eight_bit_rgb(image: Image.Image, source: str | os.PathLike) -> np.ndarray:
    """8-bit RGB of a decoded image of any mode. Pillow's own conversion clips 16-bit values at 255
    (an all-white chip); here they are scaled by 1/257. 32-bit integer and float images have no
    known range, so they are refused rather than guessed."""
    if image.mode.startswith("I;16"):
        gray = np.round(np.asarray(image).astype(np.float64) / 257).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "32-bit float"
        raise ChipDecodeError(f"{source}: a {kind} image (mode {image.mode}); chips must be 8- or 16-bit images")
    return np.asarray(image.convert("RGB"))


def decode_jpeg(data: bytes, min_size: int = 0) -> np.ndarray:
    """libjpeg-turbo's decode. CMYK JPEGs are decoded to CMYK and converted to RGB as Pillow does
    (libjpeg-turbo's own CMYK -> RGB rounds differently: off by one level on almost every pixel)."""
    scale = {"min_height": min_size, "min_width": min_size}
    if simplejpeg.decode_jpeg_header(data)[2] != "CMYK":
        return simplejpeg.decode_jpeg(data, colorspace="RGB", **scale)
    return cmyk_to_rgb(simplejpeg.decode_jpeg(data, colorspace="CMYK", **scale))


def cmyk_to_rgb(inverted: np.ndarray) -> np.ndarray:
    """Pillow's CMYK -> RGB, R = (255 - K) - C (255 - K) / 255 rounded as Pillow rounds, of
    libjpeg-turbo's CMYK output, which holds 255 - C, 255 - M, 255 - Y, 255 - K. Every Kaggle chip
    has K = 0, where R, G, B are the first three channels, taken without arithmetic."""
    if cv2.minMaxLoc(cv2.extractChannel(inverted, 3))[0] == 255:
        return cv2.cvtColor(inverted, cv2.COLOR_RGBA2RGB)
    white = inverted[..., 3:].astype(np.int32)  # 255 - K
    ink = (255 - inverted[..., :3]).astype(np.int32)  # C, M, Y
    product = ink * white + 128
    return (white - ((product + (product >> 8)) >> 8)).astype(np.uint8)


def decode_tiff(
    data: bytes, source: str | os.PathLike = "<bytes>", min_size: int = 0, *, order: Sequence[int]
) -> np.ndarray:
    """A multi-band TIFF chip as (H, W, bands) in the model's band order: `order[k]` is the file's
    band (0-based) that becomes band k. Integer bands keep their type (16-bit stays 16-bit)."""
    if not data:
        raise ChipDecodeError(f"{source}: empty file (0 bytes)")
    try:
        bands = tifffile.imread(io.BytesIO(data))
    except Exception as error:  # tifffile raises several types for bad files
        raise ChipDecodeError(f"{source}: cannot decode TIFF ({error})") from error
    count = len(order)
    if bands.ndim == 3 and bands.shape[0] == count and bands.shape[-1] != count:
        bands = bands.transpose(1, 2, 0)  # band-first files
    if bands.ndim != 3 or bands.shape[-1] != count:
        raise ChipDecodeError(f"{source}: expected {count} bands, found an array of shape {bands.shape}")
    return np.ascontiguousarray(bands[..., list(order)])


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's content; an unreadable file raises ChipDecodeError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ChipDecodeError(f"{path}: cannot read file ({error.strerror})") from error


def read_chip(path: str | os.PathLike, source: Source, min_size: int = 0) -> np.ndarray:
    """Decode the chip at `path` as `source` decodes its files, at a reduced scale down to
    `min_size` where the decoder can."""
    return source.decode(read_bytes(path), path, min_size)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square `size` x `size`: area averaging when shrinking (no aliasing), bilinear when enlarging."""
    if image.shape[0] == image.shape[1] == size:
        return image
    shrinking = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def load_chip(path: str | os.PathLike, size: int, source: Source, dehaze: bool = False) -> np.ndarray:
    """The chip at `path` as the model sees it: (size, size, bands), decoded at the cheapest scale,
    and with its haze removed (dark channel prior, RGB chips only) when `dehaze` is set."""
    chip = resize(read_chip(path, source, min_size=size), size)
    if dehaze and chip.shape[-1] != 3:
        raise ValueError(f"{path}: haze removal works on RGB chips, not on {chip.shape[-1]} bands")
    return remove_haze(chip) if dehaze else chip


# Every train-jpg chip ends with these 35 bytes after its end-of-image marker: a zlib stream of
# 8,192 bytes of 0xFF and 4 bytes that vary from chip to chip. Decoders ignore them;
# `simplejpeg.is_jpeg`, which looks for the end-of-image marker at the very end, does not.
KAGGLE_TRAILER = zlib.compress(b"\xff" * 8192) + b",I\x00\x00"


def encode_cmyk_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """Encode an RGB uint8 array as a 4-component JPEG laid out like the Kaggle chips: the
    quantisation tables right after the start-of-image marker (no JFIF or Adobe segment), and
    trailing bytes after the end-of-image marker."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, format="JPEG", quality=quality)
    return without_app_segments(buffer.getvalue()) + KAGGLE_TRAILER


def without_app_segments(jpeg: bytes) -> bytes:
    """`jpeg` without its APP0-APP15 marker segments (JFIF, Exif, Adobe...)."""
    kept, position = [jpeg[:2]], 2
    while jpeg[position + 1] != 0xDA:  # segments up to the start of scan; the entropy-coded data follows
        end = position + 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
        if not 0xE0 <= jpeg[position + 1] <= 0xEF:
            kept.append(jpeg[position:end])
        position = end
    return b"".join([*kept, jpeg[position:]])
