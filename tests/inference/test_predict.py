"""Prediction CLI and D4 test-time augmentation."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from amazon_cls.core.labels import LABELS, PROB_COLUMNS
from amazon_cls.data.submission import write_submission
from amazon_cls.model.tta import d4_views
from amazon_cls.predict import run as predict
from amazon_cls.store.checkpoint import read_checkpoint
from amazon_cls.store.tables import probability_frame
from tests.helpers import PRINTED_TOLERANCE, compose_config, run_module


def test_tta_views_are_exactly_the_8_dihedral_transforms() -> None:
    image = np.arange(2 * 3 * 5 * 5, dtype=np.float32).reshape(2, 3, 5, 5)  # no symmetry at all
    views = d4_views(torch.from_numpy(image)).numpy().reshape(8, 2, 3, 5, 5)
    expected = [np.rot90(img, k, axes=(-2, -1)) for img in (image, np.swapaxes(image, -1, -2)) for k in range(4)]
    as_bytes = lambda arrays: sorted(a.tobytes() for a in arrays)  # noqa: E731
    assert as_bytes(views) == as_bytes(expected)
    assert len({v.tobytes() for v in views}) == 8
    np.testing.assert_array_equal(views[0], image)  # the plain view comes first


@pytest.fixture(scope="module")
def order_file(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample submission, shuffled: the output must follow it, not the folder's order."""
    sample = pd.read_csv(tiny_root / "sample_submission_v2.csv").sample(frac=1.0, random_state=0)
    path = tmp_path_factory.mktemp("order") / "sample_submission_v2.csv"
    sample.to_csv(path, index=False)
    return path


def predict_overrides(trained_run: Path, tiny_root: Path, output: Path) -> list[str]:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    return [
        f"ckpt={ckpt}",
        f"input={tiny_root / 'test-jpg'}",
        f"output={output}",
        "tta=d4",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
    ]


def test_predict_writes_submission_in_the_given_order(
    trained_run: Path, tiny_root: Path, order_file: Path, tmp_path: Path, caplog
) -> None:
    output = tmp_path / "submission.csv"
    caplog.set_level(logging.INFO)
    overrides = [*predict_overrides(trained_run, tiny_root, output), f"order={order_file}", "trainer.precision=32"]
    predict(compose_config("predict", overrides, tmp_path / "predict"))
    assert "Hardware choice: trainer.precision=32: set explicitly" in caplog.text
    submission = pd.read_csv(output, keep_default_na=False)
    assert list(submission.columns) == ["image_name", "tags"]
    assert submission["image_name"].tolist() == pd.read_csv(order_file)["image_name"].tolist()
    assert all(set(tags.split()) <= set(LABELS) for tags in submission["tags"])
    probs = pd.read_csv(output.with_name("submission_probs.csv"))
    assert probs.columns.tolist() == ["image_name", *PROB_COLUMNS]
    assert probs["image_name"].tolist() == submission["image_name"].tolist()
    # the member's own test predictions were made with the same checkpoint and TTA
    member = pd.read_csv(trained_run / "test_probs.csv").set_index("image_name").loc[probs["image_name"]]
    np.testing.assert_allclose(probs[PROB_COLUMNS].to_numpy(), member[PROB_COLUMNS].to_numpy(), atol=1e-6)


def test_predict_reads_its_checkpoint_once(
    trained_run: Path, tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its thresholds, its data source and its weights come from one read of the file."""
    from amazon_cls.inference import predictor
    from amazon_cls.model import module

    reads: list[str] = []

    def counted(path, *args, **kwargs):
        reads.append(str(path))
        return read_checkpoint(path, *args, **kwargs)

    monkeypatch.setattr(predictor, "read_checkpoint", counted)
    monkeypatch.setattr(module, "read_checkpoint", counted)
    output = tmp_path / "submission.csv"
    predict(
        compose_config(
            "predict",
            [*predict_overrides(trained_run, tiny_root, output), "trainer.precision=32"],
            tmp_path / "predict",
        )
    )
    assert len(reads) == 1 and output.is_file()


def test_predict_defaults_to_the_hardware_resolver(tmp_path: Path) -> None:
    cfg = compose_config("predict", ["ckpt=a.ckpt", "input=in", "output=out.csv"], tmp_path)
    assert cfg.trainer.precision == "auto" and cfg.num_workers == "auto"


@pytest.mark.slow
def test_two_process_ddp_prediction_equals_one_process(trained_run: Path, tiny_root: Path, tmp_path: Path) -> None:
    """trainer=ddp_cpu: 2 gloo processes share the 20 chips; the merged table is the 1-process one."""
    outputs = {}
    for trainer in ("cpu", "ddp_cpu"):
        outputs[trainer] = tmp_path / trainer / "submission.csv"
        run_module(
            "amazon_cls.predict",
            *predict_overrides(trained_run, tiny_root, outputs[trainer]),
            f"trainer={trainer}",
            "trainer.precision=32",
            f"hydra.run.dir={tmp_path / trainer}",
        )
    one, two = (pd.read_csv(path.with_name("submission_probs.csv")) for path in outputs.values())
    assert two["image_name"].tolist() == one["image_name"].tolist()  # each chip once, in input order
    np.testing.assert_allclose(
        two[PROB_COLUMNS].to_numpy(), one[PROB_COLUMNS].to_numpy(), rtol=0, atol=PRINTED_TOLERANCE
    )


def test_predict_refuses_an_order_file_with_other_chips(tmp_path: Path) -> None:
    order = tmp_path / "order.csv"
    pd.DataFrame({"image_name": ["test_0", "file_99"], "tags": ""}).to_csv(order, index=False)
    probs = probability_frame(["test_0", "test_1"], np.full((2, len(LABELS)), 0.5))
    with pytest.raises(ValueError, match="row sets differ: 1 chips listed there were not predicted"):
        write_submission(tmp_path / "sub.csv", probs, np.full(len(LABELS), 0.2), order=order)
    assert not (tmp_path / "sub.csv").exists()
