"""Check a data set without training: `python -m amazon_cls.check data.root=<kaggle data>`.

Prints the number of chips, the chips per label and every problem (file or CSV row named);
exits with status 1 when a problem would stop training.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from amazon_cls.data.config import CheckConfig
from amazon_cls.runtime.command import command, task


def report(cfg: DictConfig) -> tuple[str, bool]:
    """The summary text and whether training would stop on it."""
    from amazon_cls.data.check import check_dataset, label_counts
    from amazon_cls.data.layout import DataError, Layout

    layout = Layout.of_config(cfg.data)
    try:
        table, targets, problems, bad_rows = check_dataset(layout)
    except DataError as error:
        return f"error: {error}", True
    counts = "\n".join(f"  {label:<18} {count:>7}" for label, count in label_counts(targets).items())
    text = f"{layout.root}: {len(table)} chips in {layout.labels_csv}, {len(bad_rows)} bad\n"
    text += f"chips per label:\n{counts}\n"
    return text + (problems.summary() or "no problems found"), bool(problems.fatal)


@task("check", CheckConfig)
def run(cfg: DictConfig) -> None:
    text, fatal = report(cfg)
    print(text)
    if fatal:
        sys.exit(1)


main = command(run)

if __name__ == "__main__":
    main()
