"""The decoded-chip cache: every chip decoded and resized once, kept as one array on disk.

Decoding is the costliest step of the input pipeline; with `data.cache=true` each epoch after the
first reads chips from a memory-mapped `.npy` (served from the OS page cache when it fits in RAM,
from disk when it does not). The file name carries a fingerprint of the source files' names,
sizes and modification times and of the chip size, so a changed source builds a new cache.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from amazon_cls.data.decode import load_chip
from amazon_cls.data.sources import Source
from amazon_cls.store.atomic import atomic_path
from amazon_cls.store.records import fingerprint

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump when the decoding or resizing changes (2: CMYK chips exactly as Pillow converts them)


def chips_fingerprint(paths: Sequence[Path], size: int, dehaze: bool = False, source: str = "") -> str:
    """The cache's key: the source files (names, sizes, modification times) and how chips are prepared."""
    return fingerprint(paths, f"v{CACHE_VERSION}:{size}:{dehaze}{f':{source}' if source else ''}")


def cache_file(
    cache_dir: str | Path, name: str, paths: Sequence[Path], size: int, source: Source, dehaze: bool = False
) -> Path:
    kind = f"{size}px{'-dehazed' if dehaze else ''}"
    return (
        Path(cache_dir) / f"{name}-{kind}-{len(paths)}chips-{chips_fingerprint(paths, size, dehaze, source.name)}.npy"
    )


def build_cache(
    target: Path, paths: Sequence[Path], size: int, source: Source, dehaze: bool = False, threads: int = 0
) -> None:
    """Decode every chip into `target` (written under a temporary name, renamed when complete)."""
    threads = threads or (os.cpu_count() or 1)
    first = load_chip(paths[0], size, source, dehaze)  # its bands and type (uint8 RGB, uint16 TIFF bands, ...)
    with atomic_path(target) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=(len(paths), *first.shape))
        with ThreadPoolExecutor(threads) as pool:  # libjpeg releases the GIL while it decodes
            chips = pool.map(lambda path: load_chip(path, size, source, dehaze), paths, chunksize=64)
            for i, chip in enumerate(tqdm(chips, total=len(paths), desc=f"caching {target.name}", mininterval=2)):
                array[i] = chip
        array.flush()
        del array


def load_or_build_cache(
    cache_dir: str | Path, name: str, paths: Sequence[Path], size: int, source: Source, dehaze: bool = False
) -> np.ndarray:
    """The cache of `paths` at `size` px as a read-only memory map, built first if missing or stale."""
    target = cache_file(cache_dir, name, paths, size, source, dehaze)
    if not target.is_file():
        log.info("Building the decoded-chip cache %s (%d chips)", target, len(paths))
        build_cache(target, paths, size, source, dehaze)
    return np.load(target, mmap_mode="r")
