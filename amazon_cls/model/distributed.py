"""Gathering per-chip results from every DDP rank, each chip exactly once."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch


def gather_unique(pl_module: L.LightningModule, index: torch.Tensor, *values: torch.Tensor) -> list[np.ndarray]:
    """Gather tensors from all ranks and keep each chip once, in index order.

    Under DDP the sampler (`EpochSampler`) repeats a few chips so every rank has equal work;
    de-duplicating on the data set index counts each chip exactly once.
    """
    local_count = torch.tensor([len(index)], device=pl_module.device)
    counts = pl_module.all_gather(local_count).reshape(-1)
    longest = int(counts.max())
    gathered = []
    for tensor in (index, *values):
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=pl_module.device)
        padded[: len(tensor)] = tensor
        stacked = pl_module.all_gather(padded).reshape(-1, longest, *tensor.shape[1:])
        gathered.append(torch.cat([stacked[rank, : int(n)] for rank, n in enumerate(counts)]).cpu().numpy())
    _, first = np.unique(gathered[0], return_index=True)
    return [array[first] for array in gathered]
