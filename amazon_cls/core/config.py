"""The schema of the `postprocess` keys, which the label rules of `core.metric` read
(`predict_labels(weather=...)`), shared by the commands that turn probabilities into tags."""

from __future__ import annotations

from dataclasses import dataclass

from amazon_cls.core.schema import checked, flag


@dataclass
class PostprocessConfig:
    weather: bool = checked(flag())  # exactly one weather label per chip; nothing else on a cloudy chip
