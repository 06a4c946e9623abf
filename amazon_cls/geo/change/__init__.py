"""Change over time (`python -m amazon_cls.monitor`): a series of scenes of one area read onto one
grid (`series`: dates, per-date predictions reused when a scene was predicted before), the
operating point alerts use (`operating`), the alerts a cell's labels raise from one observable
date to the next (`alerts`), their polygons and region totals (`polygons`), and what is written
(`outputs`: vector files, history, timeline, evidence, report)."""
