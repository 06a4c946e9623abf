"""Which labels are probably wrong: a label audit of a data set with cleanlab.

    python -m amazon_cls.audit sweep_dir=<multirun folder of every fold> data.root=<data set>
    python -m amazon_cls.audit "runs=[...]" data.root=<data set> "folds=[1,2,3,4]"   # keep fold 0 unseen

Reads the out-of-fold probabilities of the audited folds (refusing a chip without one), flags the
chips whose tags look wrong and says which tag to add or remove (cleanlab's multi-label confident
learning), and writes label_issues.csv, per-label counts, a review gallery and exclude.csv, which
`train data.exclude=<exclude.csv>` leaves out of the training folds (`auditing`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.auditing.config import AuditConfig
from amazon_cls.runtime.command import command, task

log = logging.getLogger(__name__)


@task("audit", AuditConfig)
def run(cfg: DictConfig) -> dict:
    """Everything `python -m amazon_cls.audit` does; returns audit.json's content."""
    from amazon_cls.auditing.audit import audit  # heavy libraries load once the config composed

    summary = audit(cfg)
    log.info(
        "%d of %d chips flagged; %d in exclude.csv; report: %s/audit.md",
        summary["flagged"],
        summary["chips"],
        summary["excluded"],
        cfg.output_dir,
    )
    return summary


main = command(run)

if __name__ == "__main__":
    main()
