"""Batch buffers in shared memory that DataLoader workers reuse once the main process is done.

A worker normally allocates every batch in fresh shared memory, which the kernel must find, zero
and map page by page, and unmap again when the main process drops the batch. For uint8 batches of
cached 256 px chips that costs 3-4x more than reading and flipping the chips themselves.

Here each worker keeps a few buffers. A buffer is lent with the batch and comes back when the
main process frees the batch's image tensor (a finalizer on its storage, which outlives every view
and numpy array of it, marks the buffer free in a small table that both processes share), so no
pixels that are still referenced are ever overwritten. With none free, a worker allocates afresh.
"""

from __future__ import annotations

import math
import uuid
import weakref

import numpy as np
import torch
from torch.utils.data import get_worker_info

NEVER_USED, LENT, RETURNED = 0, 1, 2

# The main process's tables, by key: how a batch unpickled there finds the table to return it to.
_TABLES: weakref.WeakValueDictionary[str, torch.Tensor] = weakref.WeakValueDictionary()


class BatchBuffers:
    """Reusable batch buffers for the workers of one DataLoader; create it in the main process
    before the workers start, so that they share its table."""

    def __init__(self, num_workers: int, per_worker: int = 8) -> None:
        self.table = torch.zeros((max(num_workers, 1), per_worker), dtype=torch.uint8).share_memory_()
        self.key = uuid.uuid4().hex
        _TABLES[self.key] = self.table
        self.buffers: dict[int, torch.Tensor] = {}  # slot -> buffer, in each worker its own

    def new(self, shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor | LentBatch:
        """An uninitialised batch: in a worker, a free buffer of this shape in shared memory, lent
        until the main process frees it; in the main process, ordinary memory."""
        dtype = torch.as_tensor(np.empty(0, dtype)).dtype
        worker = get_worker_info()
        if worker is None:
            return torch.empty(shape, dtype=dtype)
        states = self.table[worker.id].numpy() if worker.id < len(self.table) else np.empty(0)
        free = np.flatnonzero(states != LENT)
        if len(free) == 0:
            return shared_empty(shape, dtype)  # none free (or none kept): as DataLoader's collate does
        slot = next((s for s in free if fits(self.buffers.get(s), shape, dtype)), free[0])
        if not fits(self.buffers.get(slot), shape, dtype):
            self.buffers[slot] = shared_empty(shape, dtype)
        states[slot] = LENT
        return LentBatch(self.buffers[slot], self.key, worker.id, int(slot))


def fits(buffer: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    return buffer is not None and buffer.shape == shape and buffer.dtype == dtype


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor in shared memory (what `default_collate` allocates in a worker)."""
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


class LentBatch:
    """A lent buffer on its way to the main process, where unpickling turns it back into a plain
    tensor whose storage returns the buffer when freed."""

    def __init__(self, tensor: torch.Tensor, key: str, worker: int, slot: int) -> None:
        self.tensor, self.key, self.worker, self.slot = tensor, key, worker, slot

    def numpy(self) -> np.ndarray:
        return self.tensor.numpy()

    def __reduce__(self) -> tuple:
        return received, (self.tensor, self.key, self.worker, self.slot)


def received(tensor: torch.Tensor, key: str, worker: int, slot: int) -> torch.Tensor:
    """In the main process: the batch tensor, which returns its buffer to the worker once freed."""
    table = _TABLES.get(key)
    if table is not None:
        weakref.finalize(tensor.untyped_storage(), give_back, table, worker, slot).atexit = False
    return tensor


def give_back(table: torch.Tensor, worker: int, slot: int) -> None:
    # through numpy: a table made under Trainer.predict is an inference tensor, which torch would
    # not let this finalizer update once prediction has stopped (an interrupted run)
    table.numpy()[worker, slot] = RETURNED
