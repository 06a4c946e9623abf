from pathlib import Path

from amazon_cls.baseline import run as baseline
from amazon_cls.model.backbones import PlainCNN
from tests.helpers import compose_config, compose_train


def test_random_forest_baseline_beats_the_constant_prediction(tiny_root: Path, tmp_path: Path) -> None:
    overrides = [f"data.root={tiny_root}", "trees=50", "data.cache=true"]  # as for training; workers: auto
    cfg = compose_config("baseline", overrides, tmp_path / "run")
    metrics = baseline(cfg)
    assert metrics["val/f2"] > metrics["val/f2_clear_primary"] + 0.05
    assert (tmp_path / "run" / "val_probs.csv").is_file()


def test_plain_cnn_is_reachable_as_a_backbone(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    model = instantiate(compose_train(["model=plain_cnn"], tmp_path).model)
    assert isinstance(model.net, PlainCNN) and model.hparams.image_size == 64


def test_chip_resnet_keeps_cells_of_a_32_px_chip_to_its_last_stage(tmp_path: Path) -> None:
    """timm's resnet18 leaves a 32 px chip one cell at its last stage; chip_resnet leaves 2 x 2."""
    import timm
    import torch
    from hydra.utils import instantiate

    model = instantiate(compose_train(["model=chip_resnet", "data.format=tif"], tmp_path).model)
    chips = torch.zeros(2, 4, 32, 32)
    assert model.hparams.image_size == 32 and model(chips).shape == (2, 17)
    assert model.net.forward_features(chips).shape[-2:] == (2, 2)
    assert timm.create_model("resnet18", in_chans=4).forward_features(chips).shape[-2:] == (1, 1)


def test_chip_statistics_sees_each_bands_distribution_and_texture() -> None:
    import numpy as np
    import timm
    import torch

    model = timm.create_model("chip_statistics", num_classes=17, in_chans=3).eval()
    chips = torch.rand(2, 3, 32, 32)
    features = model.statistics(chips).reshape(2, 3, -1).numpy()
    pixels = chips.flatten(2).numpy()
    np.testing.assert_allclose(features[..., 0], pixels.mean(-1), atol=1e-6)
    quantiles = np.quantile(pixels, model.QUANTILES, axis=-1).transpose(1, 2, 0)
    np.testing.assert_allclose(features[..., 4:], quantiles, atol=1e-6)
    striped = torch.full((1, 3, 32, 32), 0.5)
    striped[..., ::2] = 0.0  # columns alternate: texture across, none down
    down, across = model.statistics(striped).reshape(3, -1)[0, 2:4]
    assert down == 0 and across == 0.5
    assert model(chips).shape == (2, 17)
