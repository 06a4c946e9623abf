"""amazon-cls: multi-label classification of Planet chips of the Amazon basin.

The commands stand at the top (`python -m amazon_cls.<command>`, or `amazon-cls <command>`): train,
predict, ensemble, map, monitor, sample, area, evaluate, tune, audit, check, eda and baseline. The library lives
in packages by stage, in the order data flows: `data` (chips on disk -> batches), `model` (the
LightningModule and its callbacks), `training` (one run), `blending` (what `ensemble` combines),
`inference` (new chips -> tags), `evaluation` (scores with intervals), `search` (what `tune` runs),
`auditing` (what `audit` finds), `geo` (scenes, maps and monitoring), `assessment` (what `sample`
and `area` do: a monitor run's sample, reviewed, to error-adjusted areas); beneath them `core` (labels,
the F2, thresholds), `store` (what is on disk) and `runtime` (hardware, the command decorator,
config checks, signals). `make bench` lives beside the package, in `benchmarks/`; the
documentation in `docs/` (`make docs`).
"""

__version__ = "0.2.0"
