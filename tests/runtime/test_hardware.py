"""`auto` settings follow the hardware probes; explicit values always win; runs log the choice."""

import logging
from pathlib import Path

import pytest
import torch

from amazon_cls.runtime import hardware
from amazon_cls.train import run
from tests.helpers import compose_train, tiny_overrides

NO_BF16 = "this CPU has no native bf16 (emulated bf16 is several times slower than fp32)"


@pytest.fixture()
def cpu(monkeypatch: pytest.MonkeyPatch):
    """Fake CPU probes: set(onednn_bf16=..., avx512_bf16=..., amx=...)."""

    def set_probes(onednn_bf16: bool, avx512_bf16: bool = False, amx: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)

    return set_probes


@pytest.fixture()
def gpu(monkeypatch: pytest.MonkeyPatch):
    """Fake one CUDA GPU of the given compute capability."""

    def set_gpu(major: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))

    return set_gpu


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        ({"onednn_bf16": True, "avx512_bf16": True}, "bf16-mixed"),  # e.g. Zen 4/5, Cooper Lake
        ({"onednn_bf16": True, "amx": True}, "bf16-mixed"),  # Sapphire Rapids and newer
        ({"onednn_bf16": True}, "32"),  # AVX-512 without bf16: oneDNN emulates it
        ({"onednn_bf16": False}, "32"),  # AVX2 only
    ],
)
def test_cpu_precision_is_bf16_only_where_computed_natively(cpu, probes: dict, expected: str) -> None:
    cpu(**probes)
    choice = hardware.resolve_precision("auto", "cpu")
    assert choice.value == expected
    assert ("no native bf16" in choice.reason) == (expected == "32")


@pytest.mark.parametrize(("major", "expected"), [(8, "bf16-mixed"), (9, "bf16-mixed"), (7, "16-mixed")])
def test_gpu_precision_is_bf16_from_ampere_on(gpu, major: int, expected: str) -> None:
    gpu(major)
    assert hardware.resolve_precision("auto", "gpu").value == expected
    assert hardware.resolve_precision("auto", "auto").value == expected  # accelerator=auto finds the GPU


@pytest.mark.parametrize("explicit", ["32", 32, "16-mixed", "bf16-mixed", "bf16-true"])
def test_explicit_precision_wins(cpu, explicit) -> None:
    cpu(onednn_bf16=False)
    choice = hardware.resolve_precision(explicit, "cpu")
    assert choice.value == str(explicit) and choice.reason == "set explicitly"


def test_workers_and_pinned_memory(cpu, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu(onednn_bf16=False)
    monkeypatch.setattr(hardware, "usable_cpus", lambda: 12)
    assert hardware.resolve_num_workers("auto").value == 8
    assert hardware.resolve_num_workers(0).value == 0
    assert hardware.resolve_pin_memory("auto").value is False
    assert hardware.resolve_pin_memory(None).value is False


def test_training_config_gets_concrete_values(cpu, tmp_path: Path, tiny_root: Path) -> None:
    cpu(onednn_bf16=False)
    cfg = compose_train([f"data.root={tiny_root}", "data.num_workers=0"], tmp_path)
    lines = hardware.resolve_config(cfg)
    assert cfg.trainer.precision == "32"
    assert cfg.data.num_workers == 0 and cfg.data.pin_memory is False
    assert (
        lines[0]
        == "trainer.precision=32: this CPU has no native bf16 (emulated bf16 is several times slower than fp32)"
    )
    assert "data.num_workers=0: set explicitly" in lines


def test_training_run_logs_its_precision(cpu, tmp_path: Path, tiny_root: Path, caplog) -> None:
    cpu(onednn_bf16=False)
    overrides = [o for o in tiny_overrides(tiny_root) if not o.startswith("trainer.precision")]
    caplog.set_level(logging.INFO)
    run(compose_train([*overrides, "debug=fdr"], tmp_path / "run"))
    chosen = [r.getMessage() for r in caplog.records if "Hardware choice: trainer.precision" in r.getMessage()]
    assert chosen == [f"Hardware choice: trainer.precision=32: {NO_BF16}"]


def test_bench_header_names_the_hardware() -> None:
    lines = hardware.describe()
    assert lines[0].startswith("CPU: ") and "usable cores" in lines[0]
    assert all(flag in lines[1] for flag in ("avx2", "avx512f", "avx512_bf16", "amx"))
    assert any(line.startswith("torch ") and "oneDNN" in line for line in lines)
