"""Draw a stratified random sample of a monitor run's cells for people to review, for example::

    python -m amazon_cls.sample monitor=<monitor output_dir> target_se=0.01
    python -m amazon_cls.sample monitor=<monitor output_dir> size=300 stratify=confidence seed=1

Strata are the map's own classes (alerts by type, retracted, forest without alert, other;
unobservable cells are stated, not sampled); `min_per_stratum` units each, the rest by area
(Olofsson et al. 2014). Writes `strata.csv`, `sample.csv` (empty `reference`, `type`, `note`) and
`review.html`, a page that shows each cell's chips at every date, blind to the map, and exports the
reviewed `sample.csv` for `python -m amazon_cls.area` (`assessment`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.assessment.config import SampleConfig
from amazon_cls.runtime.command import command, task

log = logging.getLogger(__name__)


@task("sample", SampleConfig)
def run(cfg: DictConfig) -> dict:
    """Everything `python -m amazon_cls.sample` does; returns the record (sample.json)."""
    from amazon_cls.assessment.sampling import sample  # heavy libraries load once the config composed

    record = sample(cfg)
    for row in record["strata"]:
        log.info("%-24s %7d cells %10.2f ha: %d sampled", row["stratum"], row["cells"], row["area_ha"], row["sampled"])
    log.info("Review %s/review.html, export sample.csv, then: python -m amazon_cls.area sample=<it>", cfg.output_dir)
    return record


main = command(run)

if __name__ == "__main__":
    main()
