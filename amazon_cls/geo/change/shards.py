"""A large area as one job per block of its grid, and the blocks' runs joined into one.

`shard=i num_shards=k` monitors block i of the whole grid cut into k blocks (as near square as k
allows, more cuts along the longer side), numbered row by row; its cells keep the whole grid's rows
and columns, so blocks fit together. `merge=[<the shards' folders>]` checks the shards before any
work (each finished, the same settings but `shard`, no two blocks overlapping, every block there),
gathers each date's probabilities from them and runs the rest of `monitor` once over the whole
grid: polygons that cross a block's border are one, and the region totals, history and report are
the whole area's. The shards' alert settings are not used: the merge's own are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from amazon_cls.store.done import Done
from amazon_cls.store.monitor_folder import MonitorFolder
from amazon_cls.store.records import changed
from amazon_cls.store.tables import read_frame

SHARD_KEYS = ("shard", "num_shards")  # which block a run covers: the one setting shards differ in


@dataclass(frozen=True)
class Block:
    """A rectangle of the grid's cells: `rows` x `cols`."""

    rows: range
    cols: range

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The block's cells as a boolean (rows, cols) array of a grid of `shape`."""
        inside = np.zeros(shape, bool)
        inside[self.rows.start : self.rows.stop, self.cols.start : self.cols.stop] = True
        return inside

    def cells(self) -> list[tuple[int, int]]:
        return [(row, col) for row in self.rows for col in self.cols]

    def overlaps(self, other: Block) -> bool:
        return bool(set(self.rows) & set(other.rows)) and bool(set(self.cols) & set(other.cols))

    def as_data(self) -> dict[str, list[int]]:
        return {"rows": [self.rows.start, self.rows.stop], "cols": [self.cols.start, self.cols.stop]}

    def __str__(self) -> str:
        return f"rows {self.rows.start}-{self.rows.stop - 1}, cols {self.cols.start}-{self.cols.stop - 1}"


def split(num_shards: int, rows: int, cols: int) -> tuple[int, int]:
    """How many blocks down and across: the factor pair of `num_shards` nearest a square, with more
    blocks along the grid's longer side."""
    few = max(d for d in range(1, math.isqrt(num_shards) + 1) if num_shards % d == 0)
    many = num_shards // few
    return (many, few) if rows > cols else (few, many)


def block_of(rows: int, cols: int, shard: int | None, num_shards: int) -> Block:
    """Block `shard` of a grid of `rows` x `cols` cut into `num_shards` (None: the whole grid)."""
    if shard is None:
        return Block(range(rows), range(cols))
    down, across = split(num_shards, rows, cols)
    if down > rows or across > cols:
        raise ValueError(
            f"num_shards={num_shards}: {down} x {across} blocks do not fit a grid of {rows} x {cols} cells; "
            "give fewer shards"
        )
    row, col = divmod(shard, across)
    edges = lambda count, parts, k: range(count * k // parts, count * (k + 1) // parts)  # noqa: E731
    return Block(edges(rows, down, row), edges(cols, across, col))


@dataclass(frozen=True)
class Shard:
    """A finished shard's run: its folder, its record and its block."""

    folder: MonitorFolder
    record: dict[str, Any]
    block: Block

    def __str__(self) -> str:
        settings = self.record["settings"]
        return f"{self.folder.path} (shard {settings['shard']} of {settings['num_shards']}: {self.block})"


def read_shards(folders: list[str], shared: tuple[str, ...]) -> list[Shard]:
    """The shards' finished runs, each checked: finished and unchanged, run with the same `shared`
    settings, blocks that do not overlap and together cover the grid; else one line naming the fault."""
    shards = [read_shard(Path(folder)) for folder in folders]
    first = shards[0]
    for shard in shards[1:]:
        for key in shared:
            mine, theirs = shard.record["settings"].get(key), first.record["settings"].get(key)
            if mine != theirs:
                raise ValueError(
                    f"merge: {shard.folder.path} was run with {key}={mine}, {first.folder.path} with {key}={theirs}; "
                    "the shards of one area share every setting but shard"
                )
        if shard.record["grid"] != first.record["grid"]:
            raise ValueError(f"merge: {shard.folder.path} and {first.folder.path} were cut into different grids")
    for k, one in enumerate(shards):
        for other in shards[k + 1 :]:
            if one.block.overlaps(other.block):
                raise ValueError(f"merge: {one} and {other} overlap; give each block once")
    grid = first.record["grid"]
    covered = sum(len(s.block.rows) * len(s.block.cols) for s in shards)
    if covered != grid["rows"] * grid["cols"]:
        count = first.record["settings"]["num_shards"]
        have = sorted(s.record["settings"]["shard"] for s in shards)
        raise ValueError(
            f"merge: the shards cover {covered} of the grid's {grid['rows'] * grid['cols']} cells (shards {have} "
            f"of num_shards={count}); run and give the missing ones"
        )
    return shards


def read_shard(path: Path) -> Shard:
    """A shard's finished run, or one line saying why it is not one."""
    folder = MonitorFolder(path)
    done = Done(folder.record)
    record = done.read()
    if record is None or "settings" not in record:
        raise ValueError(f"merge: {path} holds no finished monitor run ({folder.record.name} is missing)")
    settings = record["settings"]
    if settings.get("shard") is None:
        raise ValueError(f"merge: {path} is a run over the whole grid, not a shard (shard=<i> num_shards=<k>)")
    faults = done.problems(record) + [p for p in map(changed, record.get("inputs", [])) if p]
    for dated in sorted(folder.predictions.glob("*.json")):  # each date's probabilities, which the merge reads
        faults += Done(dated).problems(Done(dated).read() or {})
    if faults:
        raise ValueError(f"merge: {path}: {faults[0]}; run that shard again")
    grid = record["grid"]
    return Shard(folder, record, block_of(grid["rows"], grid["cols"], settings["shard"], settings["num_shards"]))


def merged_config(cfg: DictConfig, shared: tuple[str, ...]) -> DictConfig:
    """The merge's config: the shards' model, scenes and chips (`shared`), over the whole grid, with
    the merge's own alert settings and output folder."""
    first = read_shards(list(cfg.merge), shared)[0]
    for key in shared:
        cfg[key] = first.record["settings"][key]
    cfg.shard, cfg.num_shards = None, 1
    return cfg


def gathered(shards: list[str], day: Any, scene: Path) -> pd.DataFrame:
    """A date's probabilities over the whole grid: every shard's table of it, joined."""
    tables = []
    for path in shards:
        table, _ = MonitorFolder(Path(path)).prediction(day, scene)
        if not table.is_file():
            raise ValueError(f"merge: {path} has no probabilities of {day} ({table.name}); run that shard again")
        tables.append(read_frame(table))
    return pd.concat(tables).reset_index()  # the chip names a column again, as a prediction gives them


def scope(settings: dict[str, Any], block: dict[str, list[int]]) -> str | None:
    """What part of the area a run's report speaks for: a shard's block, or the shards merged."""
    if settings.get("shard") is not None:
        shown = Block(range(*block["rows"]), range(*block["cols"]))
        return (
            f"Shard {settings['shard']} of {settings['num_shards']} ({shown}): this run covers that block "
            "alone; join the shards with `merge=[...]` for the whole area's alerts, totals and report."
        )
    if settings.get("merge"):
        return f"Joined from {len(settings['merge'])} shards: {', '.join(settings['merge'])}."
    return None
