"""The GPU paths, run where CUDA GPUs are and skipped elsewhere with the reason: `trainer=gpu`
training, bf16-mixed, channels_last, `Trainer.predict` on CUDA against the CPU, and `trainer=ddp`
over every GPU of the machine."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amazon_cls.core.labels import PROB_COLUMNS
from tests.helpers import compose_config, compose_train, run_module, tiny_overrides
from tests.run_if import run_if


def gpu_overrides(root: Path, *extra: str) -> list[str]:
    return [*tiny_overrides(root), "trainer=gpu", *extra]


@run_if(min_gpus=1)
def test_gpu_training_chooses_its_precision_and_finishes(tmp_path: Path, tiny_root: Path, caplog) -> None:
    import torch

    from amazon_cls.train import run

    caplog.set_level(logging.INFO)
    overrides = [o for o in gpu_overrides(tiny_root) if not o.startswith("trainer.precision")]
    run(compose_train([*overrides, "trainer.precision=auto"], tmp_path / "run"))
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    assert f"trainer.precision={expected}" in caplog.text
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert np.isfinite(metrics["val/f2"]) and metrics["val/f2"] > 0


@run_if(min_gpus=1, bf16=True)
def test_bf16_mixed_and_channels_last_train_on_a_gpu(tmp_path: Path, tiny_root: Path) -> None:
    from amazon_cls.train import run

    for layout in ("true", "false"):
        output = tmp_path / f"channels_last_{layout}"
        run(
            compose_train(
                gpu_overrides(tiny_root, "trainer.precision=bf16-mixed", f"model.channels_last={layout}"), output
            )
        )
        assert json.loads((output / "metrics.json").read_text())["val/f2"] > 0


@run_if(min_gpus=1)
def test_channels_last_gives_the_plain_layouts_outputs_on_a_gpu(trained_run: Path) -> None:
    import torch

    from amazon_cls.model.module import ChipClassifier

    model = ChipClassifier.from_checkpoint(next((trained_run / "checkpoints").glob("best-*.ckpt"))).to("cuda")
    batch = torch.rand(8, 3, 32, 32, device="cuda")
    with torch.no_grad():
        plain = model(batch.contiguous())
        nhwc = model.to(memory_format=torch.channels_last)(batch.to(memory_format=torch.channels_last))
    torch.testing.assert_close(nhwc, plain, rtol=1e-3, atol=1e-4)


@run_if(min_gpus=1)
def test_prediction_on_a_gpu_equals_the_cpus(trained_run: Path, tiny_root: Path, tmp_path: Path) -> None:
    from amazon_cls.predict import run as predict

    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    tables = {}
    for trainer in ("cpu", "gpu"):
        output = tmp_path / trainer / "submission.csv"
        predict(
            compose_config(
                "predict",
                [
                    f"ckpt={ckpt}",
                    f"input={tiny_root / 'test-jpg'}",
                    f"output={output}",
                    f"trainer={trainer}",
                    "trainer.precision=32",
                    "num_workers=0",
                ],
                tmp_path / f"{trainer}-run",
            )
        )
        tables[trainer] = pd.read_csv(output.with_name("submission_probs.csv"))
    assert tables["gpu"]["image_name"].tolist() == tables["cpu"]["image_name"].tolist()
    np.testing.assert_allclose(tables["gpu"][PROB_COLUMNS], tables["cpu"][PROB_COLUMNS], atol=1e-4)


@run_if(min_gpus=2)
@pytest.mark.slow
def test_ddp_over_every_gpu_trains_and_predicts_each_chip_once(tmp_path: Path, tiny_root: Path) -> None:
    test_chips = tiny_root / "test-jpg"
    run_module(
        "amazon_cls.train",
        *tiny_overrides(tiny_root),
        "trainer=ddp",
        f"predict_dirs=[{test_chips}]",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    probs = pd.read_csv(tmp_path / "run" / "test_probs.csv")
    assert probs["image_name"].is_unique and len(probs) == len(list((tiny_root / "test-jpg").glob("*.jpg")))
