from pathlib import Path

from amazon_cls.baseline import run_baseline
from amazon_cls.models import PlainCNN
from tests.helpers import compose_train


def test_random_forest_baseline_beats_the_constant_prediction(tiny_root: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.helpers import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("baseline", overrides=[f"data.root={tiny_root}", f"paths.log_dir={tmp_path}", "trees=50"])
    metrics = run_baseline(cfg, tmp_path / "run")
    assert metrics["val/f2"] > metrics["val/f2_clear_primary"] + 0.05
    assert (tmp_path / "run" / "val_probs.csv").is_file()


def test_plain_cnn_is_reachable_as_a_backbone(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    model = instantiate(compose_train(["model=plain_cnn"], tmp_path).model)
    assert isinstance(model.net, PlainCNN) and model.hparams.image_size == 64
