"""`make bench`: each fast path against its plain alternative, measured in one run, as ratios.

    python -m benchmarks.bench [--data DIR] [--backbone resnet18] [--image-size 64] [--only loader map ...]

Chips come from `--data` (`make bench` gives ../shared/data/planet-dev's real 256 px CMYK JPEGs
when they sit beside the checkout), otherwise from the synthetic generator at 256 px. Every ratio
compares two measurements taken here, now, on the same chips, batch size and workers; absolute
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

PARTS = ("loader", "framework", "thresholds", "precision", "tcmalloc", "map", "errors", "alerts", "warped")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a folder of chips (default: synthetic 256 px chips)")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batches", type=int, default=60, help="timed batches per loader measurement")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model measurement")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS), help="the measurements to make")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    import torch  # heavy: after the arguments are checked

    from benchmarks import measure

    torch.set_float32_matmul_precision("high")
    measure.print_hardware(args.workers)
    with tempfile.TemporaryDirectory() as workdir:
        paths, source = measure.bench_chips(args.data, Path(workdir))
        print(
            f"chips: {len(paths)} from {source}; batch {args.batch_size}, {args.workers} workers, {os.cpu_count()} CPUs"
        )
        rows: list[tuple] = []
        for part in args.only:
            for row in measure.MEASUREMENTS[part](paths, args, Path(workdir)):
                rows.append(row)
                print(f"  measured: {row[0]}", flush=True)
    measure.print_table(rows)


if __name__ == "__main__":
    main()
