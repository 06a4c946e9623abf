"""Pretrained weights: refused at once, with what to do, where they cannot be had; read from a
local file where a cluster has no internet."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from amazon_cls.model import backbones
from amazon_cls.model.module import ChipClassifier


def test_unreachable_weights_are_refused_at_once_saying_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(backbones, "try_to_load_from_cache", lambda *args: None)  # nothing cached
    with pytest.raises(ValueError) as raised:
        ChipClassifier(backbone="resnet18", pretrained=True)
    message = str(raised.value)
    assert "model.pretrained=true: the ImageNet weights of resnet18 cannot be had here" in message
    assert all(fix in message for fix in ("model.pretrained=false", "model.pretrained_file=", "HF_HUB_OFFLINE=1"))
    assert "Network is unreachable" in message


def test_weights_from_a_local_file(tmp_path: Path) -> None:
    reference = timm.create_model("test_resnet", pretrained=False)
    save_file(reference.state_dict(), tmp_path / "test_resnet.safetensors")
    model = ChipClassifier(
        backbone="test_resnet", pretrained=True, pretrained_file=str(tmp_path / "test_resnet.safetensors")
    )
    first = next(name for name, _ in reference.named_parameters() if name.endswith("weight"))
    torch.testing.assert_close(model.net.state_dict()[first], reference.state_dict()[first])
    with pytest.raises(ValueError, match=r"model\.pretrained_file='nowhere\.pth': no such file"):
        ChipClassifier(backbone="test_resnet", pretrained=True, pretrained_file="nowhere.pth")
