"""amazon-cls: multi-label classification of Planet chips of the Amazon basin.

The commands stand at the top (`python -m amazon_cls.<command>`, or `amazon-cls <command>`):
train, predict, ensemble, map, monitor, check, eda, baseline, bench. The library lives in packages by
stage, in the order data flows: `data` (chips on disk -> batches), `model` (the LightningModule
and its callbacks), `training` (one run), `blending` (ensembles), `inference` (new chips ->
tags), `geo` (scenes and maps); beneath them `core` (labels, the F2, thresholds), `store` (what
is on disk) and `runtime` (hardware, the command decorator, signals).
"""

__version__ = "0.2.0"
