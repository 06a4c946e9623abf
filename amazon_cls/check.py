"""Check a data set without training: `python -m amazon_cls.check data.root=<kaggle data>`.

Prints the number of chips, the chips per label and every problem (file or CSV row named);
exits with status 1 when a problem would stop training.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from amazon_cls.data.check import DataError, check_dataset, label_counts


def report(cfg: DictConfig) -> tuple[str, bool]:
    """The summary text and whether training would stop on it."""
    root = Path(cfg.data.root or cfg.data.synthetic_dir)
    try:
        table, targets, problems, bad_rows = check_dataset(
            root, cfg.data.labels_csv, cfg.data.image_dir, cfg.data.image_ext
        )
    except DataError as error:
        return f"error: {error}", True
    counts = "\n".join(f"  {label:<18} {count:>7}" for label, count in label_counts(targets).items())
    text = f"{root}: {len(table)} chips in {cfg.data.labels_csv}, {len(bad_rows)} bad\nchips per label:\n{counts}\n"
    return text + (problems.summary() or "no problems found"), bool(problems.fatal)


@hydra.main(version_base="1.3", config_path="../conf", config_name="check")
def main(cfg: DictConfig) -> None:
    text, fatal = report(cfg)
    print(text)
    if fatal:
        sys.exit(1)


if __name__ == "__main__":
    main()
