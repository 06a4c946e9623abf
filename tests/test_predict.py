"""Prediction CLI and D4 test-time augmentation."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from amazon_cls.labels import LABELS, PROB_COLUMNS
from amazon_cls.module import d4_views
from amazon_cls.predict import probability_frame, write_submission
from tests.helpers import run_module


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


def test_predict_writes_submission_in_the_given_order(trained_run: Path, tiny_root: Path, order_file: Path) -> None:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    output = trained_run.parent / "submission.csv"
    result = run_module(
        "amazon_cls.predict", f"ckpt={ckpt}", f"input={tiny_root / 'test-jpg'}", f"output={output}",
        f"order={order_file}", "tta=d4", "num_workers=0", f"hydra.run.dir={trained_run.parent / 'predict'}",
    )  # fmt: skip
    assert "Hardware choice: precision=" in result.stdout + result.stderr  # `auto`, resolved and logged
    submission = pd.read_csv(output, keep_default_na=False)
    assert list(submission.columns) == ["image_name", "tags"]
    assert submission["image_name"].tolist() == pd.read_csv(order_file)["image_name"].tolist()
    assert all(set(tags.split()) <= set(LABELS) for tags in submission["tags"])
    probs = pd.read_csv(output.with_name("submission_probs.csv"))
    assert probs.columns.tolist() == ["image_name", *PROB_COLUMNS]
    assert probs["image_name"].tolist() == submission["image_name"].tolist()
    # the member's own test predictions were made with the same checkpoint and TTA
    member = pd.read_csv(trained_run / "test_probs.csv").set_index("image_name").loc[probs["image_name"]]
    np.testing.assert_allclose(probs[PROB_COLUMNS].to_numpy(), member[PROB_COLUMNS].to_numpy(), atol=0.02)


def test_predict_refuses_an_order_file_with_other_chips(tmp_path: Path) -> None:
    order = tmp_path / "order.csv"
    pd.DataFrame({"image_name": ["test_0", "file_99"], "tags": ""}).to_csv(order, index=False)
    probs = probability_frame(["test_0", "test_1"], np.full((2, len(LABELS)), 0.5))
    with pytest.raises(ValueError, match="row sets differ: 1 chips listed there were not predicted"):
        write_submission(tmp_path / "sub.csv", probs, np.full(len(LABELS), 0.2), order=order)
    assert not (tmp_path / "sub.csv").exists()
