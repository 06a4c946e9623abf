"""What an evaluation scores: predictions of the truth's chips from a checkpoint or an ensemble
(predicted now, as `predict` predicts), a run folder's out-of-fold table, or a CSV (a submission's
tags, or probabilities with thresholds). Each kind is a registered reader (`KINDS`), recognised by
the path it is given, in the order registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.core.labels import PROB_COLUMNS, parse_tags, tags_to_vector
from amazon_cls.core.metric import apply_weather_rules, predict_labels
from amazon_cls.core.registry import Registry
from amazon_cls.core.thresholds import Thresholds, cross_fitted
from amazon_cls.data.layout import read_name_table
from amazon_cls.evaluation.truth import Truth
from amazon_cls.inference.predictor import PredictionRun, Predictor
from amazon_cls.store.ensemble_folder import EnsembleFolder
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.store.tables import read_frame


@dataclass(frozen=True)
class Predictions:
    """One evaluated thing's predictions of the truth's chips, in the truth's order."""

    name: str
    kind: str
    source: str
    y_pred: np.ndarray  # chips x 17, 0/1
    probs: np.ndarray | None = None  # chips x 17, when known (not for a submission of tags)
    thresholds: np.ndarray | None = None  # the 17 used, or the mean of the cross-fitted ones
    thresholds_from: str = ""  # where the thresholds come from, for the report
    inputs: list[str] = field(default_factory=list)  # the files they were made from


@dataclass
class Context:
    """What every reader may need: the chips, the view and thresholds asked for, and a Trainer to
    predict with (made on first use)."""

    truth: Truth
    tta: str
    thresholds: str | None  # a thresholds.json for every item, instead of their own
    cross_fit: int  # 0, or the parts thresholds will be cross-fitted on (`with_cross_fitted`)
    make_run: Callable[[], PredictionRun]
    _run: PredictionRun | None = None

    def run(self) -> PredictionRun:
        if self._run is None:
            self._run = self.make_run()
        return self._run


Pending = Callable[[], "Predictions | None"]  # the work of reading or predicting; None on a rank other than 0


@dataclass(frozen=True)
class Kind:
    """How to recognise one kind of thing to evaluate, and how to prepare it: `prepare` checks the
    input at once (before any item is predicted) and returns the work that makes the predictions."""

    recognises: Callable[[Path], bool]
    prepare: Callable[[Path, Context], Pending]


KINDS: Registry[Kind] = Registry("evaluated kind")


def kind_of(path: Path) -> str:
    """The registered kind that recognises `path`."""
    for name in KINDS:
        if KINDS[name].recognises(path):
            return name
    raise ValueError(
        f"{path}: not something evaluate scores; give a checkpoint (.ckpt), an ensemble folder, "
        "a finished run folder, or a CSV of tags or probabilities"
    )


def prepare(path: Path, context: Context) -> Pending:
    return KINDS[kind_of(path)].prepare(path, context)


def _to_predict(path: Path, predictor: Predictor, context: Context, kind: str) -> Pending:
    """The truth's chips, to be predicted by `predictor` through `Trainer.predict`."""
    from amazon_cls.data.to_predict import ChipFiles

    truth = context.truth
    if truth.paths is None:
        raise ValueError(
            f"{path}: a model to run needs the chips' files; give data.root=<data set>, or "
            "input=<folders of chips> with labels=<csv>"
        )
    source = predictor.input_source()
    if source.name != truth.source.name:
        raise ValueError(
            f"{path}: trained on {source.name} chips, but the chips to score are {truth.source.name} "
            f"(data.format={truth.source.name}); give data.format={source.name}"
        )

    def predicted() -> Predictions | None:
        run = context.run()
        files = lambda model: ChipFiles(  # noqa: E731
            truth.paths, model.hparams.image_size, source, model.hparams.dehaze, **run.loader
        )
        frame = predictor.predict(run, files)
        if frame is None:
            return None
        probs = aligned(frame.set_index("image_name"), truth, str(path))[PROB_COLUMNS].to_numpy()
        where = context.thresholds or f"{path} (tta={context.tta})"
        return Predictions(
            name_of(path),
            kind,
            str(path),
            predict_labels(probs, predictor.thresholds),
            probs,
            predictor.thresholds,
            where,
            predictor.inputs(),
        )

    return predicted


def _checkpoint(path: Path, context: Context) -> Pending:
    return _to_predict(path, Predictor.from_checkpoint(path, context.tta, context.thresholds), context, "checkpoint")


def _ensemble(path: Path, context: Context) -> Pending:
    return _to_predict(path, Predictor.from_ensemble(path, context.tta, context.thresholds), context, "ensemble")


def _run(path: Path, context: Context) -> Pending:
    """A training run's out-of-fold predictions (its validation fold, the view asked for) and thresholds."""
    folder = RunFolder(path)
    metrics = folder.finished_metrics()
    if metrics is None:
        raise ValueError(f"{path}: the run has not finished (no {folder.metrics.name})")
    predictor = Predictor.from_checkpoint(metrics["best_checkpoint"], context.tta, context.thresholds)
    probs = aligned(predictor.out_of_fold_frame(), context.truth, str(path))[PROB_COLUMNS].to_numpy()
    where = context.thresholds or f"{folder.thresholds} (tta={context.tta})"
    read = Predictions(
        name_of(path),
        "run",
        str(path),
        predict_labels(probs, predictor.thresholds),
        probs,
        predictor.thresholds,
        where,
        [str(folder.metrics), *predictor.inputs()],
    )
    return lambda: read


def _table(path: Path, context: Context) -> Pending:
    """A CSV: `image_name,tags` (a submission), or `image_name,p_<label> x17` with thresholds."""
    if "tags" in pd.read_csv(path, nrows=0).columns:
        read = _tags(path, context.truth)
        return lambda: read
    probs = aligned(read_frame(path), context.truth, str(path))[PROB_COLUMNS].to_numpy()
    name, inputs = name_of(path), [str(path)]
    if context.thresholds:
        thresholds = Thresholds.read(context.thresholds).of_view(context.tta)
        read = Predictions(
            name,
            "probabilities",
            str(path),
            predict_labels(probs, thresholds),
            probs,
            thresholds,
            str(context.thresholds),
            [*inputs, str(context.thresholds)],
        )
    elif context.cross_fit:  # the thresholds come with cross-fitting (`with_cross_fitted`)
        read = Predictions(name, "probabilities", str(path), np.zeros(probs.shape, bool), probs, inputs=inputs)
    else:
        raise ValueError(
            f"{path}: probabilities need thresholds to become tags: give thresholds=<thresholds.json>, "
            "or cross_fit=2 to fit them on these chips, part by part"
        )
    return lambda: read


KINDS.register("checkpoint")(Kind(lambda path: path.suffix == ".ckpt" and path.is_file(), _checkpoint))
KINDS.register("ensemble")(Kind(lambda path: EnsembleFolder(path).combination.is_file(), _ensemble))
KINDS.register("run")(Kind(lambda path: RunFolder(path).metrics.is_file(), _run))
KINDS.register("table")(Kind(lambda path: path.suffix.lower() == ".csv" and path.is_file(), _table))


def _tags(path: Path, truth: Truth) -> Predictions:
    table = read_name_table(path, ["image_name", "tags"], "submission")
    vectors = [tags_to_vector(parse_tags(tags), f"{path} row {row + 2}") for row, tags in enumerate(table["tags"])]
    frame = pd.DataFrame(np.array(vectors, dtype=bool), index=table["image_name"])
    y_pred = aligned(frame, truth, str(path)).to_numpy()
    return Predictions(name_of(path), "tags", str(path), y_pred, thresholds_from="its tags", inputs=[str(path)])


def aligned(frame: pd.DataFrame, truth: Truth, source: str) -> pd.DataFrame:
    """`frame` (indexed by chip) in the truth's order; it must cover exactly the truth's chips."""
    if not frame.index.is_unique:
        twice = frame.index[frame.index.duplicated()].unique().tolist()
        raise ValueError(f"{source}: lists {len(twice)} chips twice (e.g. {twice[:3]})")
    unlabelled = frame.index.difference(truth.index)
    unpredicted = truth.index.difference(frame.index)
    if len(unlabelled) or len(unpredicted):
        raise ValueError(
            f"{source}: not the chips scored ({truth.description}): {len(unlabelled)} of its chips have no labels "
            f"there (e.g. {unlabelled[:3].tolist()}), {len(unpredicted)} labelled chips are not in it "
            f"(e.g. {unpredicted[:3].tolist()})"
        )
    return frame.loc[truth.index]


def same_chips(paths: list[Path]) -> None:
    """Tables compared must be over the same chips: said of the pair first, before either is scored."""
    chips = {path: _chips_of(path) for path in paths if _chips_of(path) is not None}
    first = next(iter(chips), None)
    for path, names in chips.items():
        if names != chips[first]:
            only_first, only_this = len(chips[first] - names), len(names - chips[first])
            raise ValueError(
                f"{first} and {path} are over different chips ({only_first} only in the first, "
                f"{only_this} only in the second); compare predictions of the same chips"
            )


def _chips_of(path: Path) -> set[str] | None:
    """The chips a table lists, or None for something that predicts the chips it is given."""
    if KINDS["table"].recognises(path):
        return set(read_name_table(path, ["image_name"], "predictions")["image_name"])
    if KINDS["run"].recognises(path):
        table = RunFolder(path).val_probs
        return set(read_name_table(table, ["image_name"], "predictions")["image_name"]) if table.is_file() else None
    return None


def with_cross_fitted(
    predictions: Predictions, targets: np.ndarray, names: list[str], parts: int, seed: int, rare_weight: float = 0.0
) -> Predictions:
    """The same probabilities labelled by thresholds fitted on the other parts of these chips (the
    parts chosen by chip name, as training and the ensemble report choose them), on the chips' F2
    plus `rare_weight` x the rare labels' mean F2."""
    if predictions.probs is None:
        raise ValueError(
            f"{predictions.source}: a submission of tags has no probabilities to fit thresholds on; "
            "give its probabilities (<stem>_probs.csv), or cross_fit=0"
        )
    y_pred, fitted = cross_fitted(predictions.probs, targets, parts, seed, names, rare_weight)
    objective = f", rare_weight {rare_weight:g}" if rare_weight else ""
    return replace(
        predictions,
        y_pred=y_pred,
        thresholds=fitted.mean(axis=0),
        thresholds_from=f"cross-fitted on {parts} parts of these chips{objective} (mean shown)",
    )


def with_weather_rules(predictions: Predictions) -> Predictions:
    """Exactly one weather label per chip, nothing else on a cloudy one (a submission of tags is as it is)."""
    if predictions.probs is None:
        return predictions
    return replace(predictions, y_pred=apply_weather_rules(predictions.probs, predictions.y_pred))


def name_of(path: Path) -> str:
    """A short name: a checkpoint's run folder, a folder's name, a file's stem."""
    if path.suffix == ".ckpt":
        return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
    return path.name if path.is_dir() else path.stem
