"""Error-adjusted areas with 95% intervals from a reviewed sample, for example::

    python -m amazon_cls.area sample=<reviewed sample.csv>
    python -m amazon_cls.area sample=<reviewed sample.csv> strata=<its strata.csv>

The stratified estimator of Olofsson et al. (2014): the area of change and of no change, the
user's accuracy of each alert stratum, the producer's accuracy of change and the overall accuracy,
each with its standard error; `unclear` and unreviewed units left out and counted. Writes
`area.csv`, `accuracy.csv`, `error_matrix.csv` and `area.md`, which puts the mapped area beside the
error-adjusted one (`assessment`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.assessment.config import AreaConfig
from amazon_cls.runtime.command import command, task

log = logging.getLogger(__name__)


@task("area", AreaConfig)
def run(cfg: DictConfig) -> dict:
    """Everything `python -m amazon_cls.area` does; returns the record (area.json)."""
    from amazon_cls.assessment.areas import estimate  # heavy libraries load once the config composed

    record = estimate(cfg)
    for row in record["area"]:
        log.info(
            "%s: mapped %.2f ha, estimated %.2f ha [%.2f, %.2f] (95%%)",
            row["class"],
            row["mapped_area_ha"],
            row["estimated_area_ha"],
            row["ci95_low_ha"],
            row["ci95_high_ha"],
        )
    log.info("Report: %s/area.md", cfg.output_dir)
    return record


main = command(run)

if __name__ == "__main__":
    main()
