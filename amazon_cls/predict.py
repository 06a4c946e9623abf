"""Predict folders of chips with a trained checkpoint and write a Kaggle submission.

    python -m amazon_cls.predict ckpt=<model.ckpt> input=<folder> output=<submission.csv>
    python -m amazon_cls.predict ckpt=... "input=[test-jpg,test-jpg-additional]" output=... \\
        order=sample_submission_v2.csv tta=d4 thresholds=<thresholds.json>

Writes `image_name,tags` to `output` and the probabilities beside it (`<output stem>_probs.csv`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from amazon_cls import hardware
from amazon_cls.data.datamodule import ChipDataset, chip_loader, list_chips
from amazon_cls.io import write_csv
from amazon_cls.labels import LABELS, PROB_COLUMNS, vector_to_tags
from amazon_cls.metrics import predict_labels
from amazon_cls.module import ChipClassifier, check_label_vocabulary

log = logging.getLogger(__name__)
AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16, "bf16": torch.bfloat16, "16": torch.float16}


def load_model(ckpt_path: str | Path, device: str | torch.device = "cpu") -> ChipClassifier:
    """A checkpoint's model in eval mode.

    Read with weights_only=True, so no code stored in the file runs; its label list must be ours.
    The backbone is built with pretrained=False: the checkpoint's weights replace any download.
    """
    checkpoint = torch.load(ckpt_path, map_location=device, weights_only=True)
    check_label_vocabulary(checkpoint.get("labels"), source=str(ckpt_path))
    # the memory format is this machine's choice, not the training machine's
    model = ChipClassifier(**{**checkpoint["hyper_parameters"], "pretrained": False, "channels_last": "auto"})
    model.load_state_dict(checkpoint["state_dict"])
    model.dehaze = bool(checkpoint.get("datamodule_hyper_parameters", {}).get("dehaze", False))
    return model.to(device).eval()


def load_thresholds(path: str | Path) -> np.ndarray:
    """Thresholds from a `label -> threshold` JSON file, in label order."""
    thresholds = json.loads(Path(path).read_text())
    check_label_vocabulary(list(thresholds), source=str(path))
    return np.array([thresholds[label] for label in LABELS], dtype=np.float64)


@torch.inference_mode()
def predict_chips(
    model: ChipClassifier,
    paths: Sequence[Path],
    *,
    tta: str = "d4",
    batch_size: int = 64,
    num_workers: int | str = "auto",
    precision: str | int = "auto",
    image_size: int | None = None,
    dehaze: bool | None = None,
) -> np.ndarray:
    """Probabilities (chips x 17) of the chips at `paths`, in that order, prepared as in training."""
    image_size = image_size or model.hparams.image_size
    dehaze = getattr(model, "dehaze", False) if dehaze is None else dehaze
    dataset = ChipDataset(paths, None, image_size, dehaze=dehaze)
    loader = chip_loader(dataset, batch_size, int(hardware.resolve_num_workers(num_workers).value))
    device = next(model.parameters()).device
    dtype = AUTOCAST_DTYPES.get(str(hardware.resolve_precision(precision, device.type).value))
    model.eval()  # a Trainer may hand the model back in training mode (batch-norm statistics would drift)
    model.tta = tta
    probs = np.zeros((len(paths), len(LABELS)), dtype=np.float32)
    for batch in tqdm(loader, desc=f"predict (tta={tta})", unit="batch", mininterval=2):
        images = model.normalize(batch["image"].to(device, non_blocking=True))
        with torch.autocast(device.type, dtype=dtype) if dtype else nullcontext():
            batch_probs = torch.sigmoid(model.view_logits(images)).mean(0)
        probs[batch["index"].numpy()] = batch_probs.float().cpu().numpy()
    return probs


def probability_frame(names: Sequence[str], probs: np.ndarray) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"image_name": list(names)}), pd.DataFrame(probs, columns=PROB_COLUMNS)], axis=1)


def submission_frame(names: Sequence[str], y_pred: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"image_name": list(names), "tags": [vector_to_tags(row) for row in y_pred]})


def order_like(frame: pd.DataFrame, order_csv: str | Path) -> pd.DataFrame:
    """Rows in exactly the order of `order_csv` (a sample submission); the two row sets must match."""
    order = pd.read_csv(order_csv, usecols=["image_name"], dtype=str)["image_name"]
    missing = pd.Index(order).difference(frame["image_name"])
    extra = pd.Index(frame["image_name"]).difference(order)
    if len(missing) or len(extra) or not order.is_unique:
        raise ValueError(
            f"{order_csv}: row sets differ: {len(missing)} chips listed there were not predicted "
            f"(e.g. {list(missing[:3])}), {len(extra)} predicted chips are not listed (e.g. {list(extra[:3])})"
            + ("" if order.is_unique else ", and it lists some chips twice")
        )
    return frame.set_index("image_name").loc[order].reset_index()


def write_submission(
    output: str | Path,
    probs: pd.DataFrame,
    thresholds: np.ndarray,
    weather_rules: bool = False,
    order: str | Path | None = None,
) -> tuple[Path, Path]:
    """`image_name,tags` at `output` and the probabilities at `<output stem>_probs.csv`."""
    if order:
        probs = order_like(probs, order)
    y_pred = predict_labels(probs[PROB_COLUMNS].to_numpy(), thresholds, weather_rules)
    output = Path(output)
    probs_path = output.with_name(f"{output.stem}_probs.csv")
    write_csv(probs_path, probs)
    write_csv(output, submission_frame(probs["image_name"], y_pred))
    return output, probs_path


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    precision = hardware.resolve_precision(cfg.precision, cfg.device)
    log.info("Hardware choice: %s", precision.describe("precision"))
    model = load_model(cfg.ckpt, cfg.device)
    if cfg.compile:  # worth it for large test sets: compiling takes a minute, then inference is faster
        model.net = torch.compile(model.net)
    thresholds = load_thresholds(cfg.thresholds) if cfg.thresholds else model.thresholds.cpu().numpy()
    paths = list_chips(as_list(cfg.input))
    log.info("Predicting %d chips from %s with %s", len(paths), as_list(cfg.input), cfg.ckpt)
    probs = predict_chips(
        model, paths, tta=cfg.tta, batch_size=cfg.batch_size, num_workers=cfg.num_workers, precision=precision.value
    )
    names = [path.stem for path in paths]
    output, probs_path = write_submission(
        cfg.output, probability_frame(names, probs), thresholds, cfg.postprocess.weather, cfg.order
    )
    log.info("Wrote %s and %s", output, probs_path)


if __name__ == "__main__":
    main()
