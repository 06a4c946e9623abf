"""`make bench` runs end to end (on a few synthetic chips, for speed) and prints its ratio table."""

import re
from pathlib import Path

import pytest

from benchmarks.bench import main


def test_bench_loader_part_prints_a_ratio_per_measurement(tiny_root: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--data", str(tiny_root / "train-jpg"), "--only", "loader", "--batches", "2", "--batch-size", "16"]
    main([*args, "--workers", "0"])
    table = capsys.readouterr().out.split("measurement")[-1]
    ratios = re.findall(r"(\d+\.\d+)x  ", table)
    assert len(ratios) == 5 and all(float(ratio) > 0 for ratio in ratios)
    assert "cache vs decoding" in table


def test_bench_warped_part_prints_its_ratio(tiny_root: Path, capsys: pytest.CaptureFixture) -> None:
    main(["--data", str(tiny_root / "train-jpg"), "--only", "warped", "--workers", "0"])
    table = capsys.readouterr().out.split("measurement")[-1]
    assert re.search(r"warped reads: .* 64 MB vs 64 B GDAL cache .* \d+\.\d+x", table)
