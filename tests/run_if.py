"""`run_if(min_gpus=N)`: a test that needs CUDA GPUs runs where they are and is skipped elsewhere with
the reason, as lightning-hydra-template's `RunIf` does (`tests/helpers/run_if.py` there)."""

from __future__ import annotations

import pytest


def cuda_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_if(min_gpus: int = 0, bf16: bool = False) -> pytest.MarkDecorator:
    """Skip unless this machine has `min_gpus` CUDA GPUs (and, with `bf16`, the first computes bf16)."""
    found = cuda_gpus()
    if found < min_gpus:
        return pytest.mark.skipif(True, reason=f"needs {min_gpus} CUDA GPU(s); this machine has {found}")
    if bf16:
        import torch

        if not torch.cuda.is_bf16_supported():
            return pytest.mark.skipif(True, reason="needs a GPU that computes bf16 (compute capability 8.0+)")
    return pytest.mark.skipif(False, reason="")
