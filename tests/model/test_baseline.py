from pathlib import Path

from amazon_cls.baseline import run as baseline
from amazon_cls.model.backbones import PlainCNN
from tests.helpers import compose_config, compose_train


def test_random_forest_baseline_beats_the_constant_prediction(tiny_root: Path, tmp_path: Path) -> None:
    cfg = compose_config("baseline", [f"data.root={tiny_root}", "trees=50", "data.num_workers=0"], tmp_path / "run")
    metrics = baseline(cfg)
    assert metrics["val/f2"] > metrics["val/f2_clear_primary"] + 0.05
    assert (tmp_path / "run" / "val_probs.csv").is_file()


def test_plain_cnn_is_reachable_as_a_backbone(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    model = instantiate(compose_train(["model=plain_cnn"], tmp_path).model)
    assert isinstance(model.net, PlainCNN) and model.hparams.image_size == 64
