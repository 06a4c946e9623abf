"""What this machine computes fast, decided when a run starts and logged once.

Every `auto` default of the configs is resolved here, from probes of the hardware, never from
brand names: the precision, the loader workers and pinned memory. Each rule follows a measurement
(docs/concepts/hardware.md): on a CPU without native bf16, bf16 autocast is emulated and several times
slower than fp32. (channels_last needs no rule: it was as fast or faster on every CPU measured,
AVX2 and AVX-512, fp32 and bf16, training and inference, and is the GPUs' fast layout.)
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

AUTO = "auto"


def uses_gpu(accelerator: str) -> bool:
    """Whether a Trainer with this accelerator runs on CUDA GPUs."""
    return accelerator in ("gpu", "cuda") or (accelerator == AUTO and torch.cuda.is_available())


def cpu_has_native_bf16() -> bool:
    """oneDNN runs bf16 kernels here and the CPU computes bf16 in hardware (AVX512_BF16 or AMX).

    oneDNN alone also says yes on AVX-512 CPUs that only emulate bf16; it honours
    ONEDNN_MAX_CPU_ISA, so `ONEDNN_MAX_CPU_ISA=AVX2` shows what an AVX2-only CPU gets.
    """
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def gpu_has_bf16() -> bool:
    """The GPU computes bf16 in hardware (Ampere, compute capability 8.0, and newer)."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


@dataclass(frozen=True)
class HardwareChoice:
    """A resolved setting and why it was chosen, for the log line."""

    value: str | int | bool
    reason: str

    def describe(self, key: str) -> str:
        return f"{key}={self.value}: {self.reason}"


def resolve_precision(requested: str | int, accelerator: str = "cpu") -> HardwareChoice:
    """`auto`: bf16-mixed where the hardware computes bf16, else 16-mixed on GPUs and 32 on CPUs."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"trainer.accelerator={accelerator}: this machine has no CUDA GPU; use trainer=cpu")
    if str(requested) != AUTO:
        return HardwareChoice(str(requested), "set explicitly")
    if uses_gpu(accelerator):
        if gpu_has_bf16():
            return HardwareChoice("bf16-mixed", "this GPU computes bf16 (Ampere or newer)")
        return HardwareChoice("16-mixed", "this GPU has no bf16 (older than Ampere)")
    if cpu_has_native_bf16():
        return HardwareChoice("bf16-mixed", "this CPU computes bf16 natively (AVX512_BF16 or AMX)")
    return HardwareChoice("32", "this CPU has no native bf16 (emulated bf16 is several times slower than fp32)")


def usable_cpus() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_num_workers(requested: int | str, limit: int = 8) -> HardwareChoice:
    """`auto`: one loader worker per core, at most `limit` (the model trains in the main process)."""
    if requested != AUTO:
        return HardwareChoice(int(requested), "set explicitly")
    cores = usable_cpus()
    return HardwareChoice(max(1, min(limit, cores)), f"one per CPU core ({cores}), at most {limit}")


def resolve_pin_memory(requested: bool | str | None) -> HardwareChoice:
    """`auto` (or null): pinned memory only when batches go to a GPU."""
    if requested not in (AUTO, None):
        return HardwareChoice(bool(requested), "set explicitly")
    if torch.cuda.is_available():
        return HardwareChoice(True, "batches go to a GPU: pinned memory copies them asynchronously")
    return HardwareChoice(False, "no GPU")


def resolve(
    accelerator: str = AUTO,
    precision: str | int = AUTO,
    num_workers: int | str = AUTO,
    pin_memory: bool | str | None = AUTO,
) -> dict[str, HardwareChoice]:
    """Every hardware-dependent setting of a run on `accelerator`: explicit values kept, `auto` decided."""
    return {
        "precision": resolve_precision(precision, accelerator),
        "num_workers": resolve_num_workers(num_workers),
        "pin_memory": resolve_pin_memory(pin_memory),
    }


# Where each hardware setting lives in a command's config (train: data.*; predict and map: top level).
TRAIN_KEYS = {"precision": "trainer.precision", "num_workers": "data.num_workers", "pin_memory": "data.pin_memory"}
PREDICT_KEYS = {"precision": "trainer.precision", "num_workers": "num_workers", "pin_memory": "pin_memory"}
DATA_KEYS = {"num_workers": "data.num_workers", "pin_memory": "data.pin_memory"}  # a command without a Trainer
KEYS = {"train": TRAIN_KEYS, "predict": PREDICT_KEYS, "data": DATA_KEYS}  # by the name a command's `task` gives


def resolve_config(cfg: DictConfig, keys: dict[str, str] = TRAIN_KEYS) -> list[str]:
    """Put this machine's choices in place of the `auto` values of a command's config, once, so
    that everything downstream sees concrete values; returns one line per setting saying what was
    chosen and why, under its config key (the command logs them)."""
    requested = {name: OmegaConf.select(cfg, key, default=AUTO) for name, key in keys.items()}
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default=AUTO)
    choices = {name: choice for name, choice in resolve(accelerator, **requested).items() if name in keys}
    for name, choice in choices.items():
        OmegaConf.update(cfg, keys[name], choice.value, force_add=True)
    return [choice.describe(keys[name]) for name, choice in choices.items()]


def cpu_model() -> str:
    """The CPU's name, family, model and stepping (Linux /proc/cpuinfo; elsewhere the platform's word)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    ids = ", ".join(f"{key} {fields[key]}" for key in ("cpu family", "model", "stepping") if key in fields)
    return f"{fields.get('model name', platform.machine())} ({ids})" if ids else fields.get("model name", "?")


def describe() -> list[str]:
    """What a speed figure depends on: CPU, ISA, GPU, library versions (printed by `make bench`)."""
    flags = {
        "avx2": torch.cpu._is_avx2_supported(),
        "avx512f": torch.cpu._is_avx512_supported(),
        "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
        "amx": torch.cpu._is_amx_tile_supported(),
    }
    lines = [
        f"CPU: {cpu_model()}, {usable_cpus()} usable cores",
        "CPU flags: " + ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in flags.items()),
        f"torch kernels: {torch.backends.cpu.get_cpu_capability()}; oneDNN bf16: "
        f"{'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}; native bf16: "
        f"{'yes' if cpu_has_native_bf16() else 'no'}",
    ]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(index)
            lines.append(f"GPU {index}: {torch.cuda.get_device_name(index)}, compute capability {major}.{minor}")
    else:
        lines.append("GPU: none")
    onednn = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    lines.append(f"torch {torch.__version__}, oneDNN {onednn.group(1) if onednn else 'unknown'}")
    return lines
