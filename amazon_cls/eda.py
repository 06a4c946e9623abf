"""A first look at a data set: `python -m amazon_cls.eda data.root=<kaggle data> [output_dir=...]`.

Writes PNG plots (label frequency on a log scale with the rare labels highlighted, label
co-occurrence, mean colour per label, example chips per label) and a markdown summary.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from amazon_cls.data.config import EdaConfig
from amazon_cls.runtime.command import command, task


@task("eda", EdaConfig)
def run(cfg: DictConfig) -> Path:
    from amazon_cls.data.eda import write_report
    from amazon_cls.data.layout import Layout

    output_dir = Path(cfg.output_dir)
    summary = write_report(Layout.of_config(cfg.data), output_dir)
    print(f"EDA report: {summary} (+ label_frequency, cooccurrence, mean_colour, examples .png)")
    return summary


main = command(run)

if __name__ == "__main__":
    main()
