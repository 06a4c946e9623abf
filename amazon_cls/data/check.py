"""Checks of a data set before any training: every problem named with its file or CSV row.

Fatal problems stop the run (or, with `data.on_bad_chip=skip`, leave the bad chips out, with a
warning and a count); notes are reported and counted. The result is cached beside the decoded
chips, keyed by the source files' fingerprint, so an unchanged data set is checked once.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABELS, NUM_LABELS, WEATHER, UnknownTagError, parse_tags, tags_to_vector
from amazon_cls.data.decode import ChipDecodeError, read_bytes
from amazon_cls.data.layout import DataError, Layout, read_labels_csv
from amazon_cls.data.sources import Source
from amazon_cls.store.atomic import write_json
from amazon_cls.store.records import fingerprint

log = logging.getLogger(__name__)
EXAMPLES = 5
REPORTED: set[Path] = set()  # the findings this process has logged already


@dataclass
class Problems:
    """Problems found, by kind: (file or row, message) pairs."""

    fatal: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> str:
        lines = []
        for severity, kinds in (("error", self.fatal), ("note", self.notes)):
            for kind, messages in kinds.items():
                lines.append(f"{severity}: {kind}: {len(messages)} {'case' if len(messages) == 1 else 'cases'}")
                lines += [f"    {message}" for message in messages[:EXAMPLES]]
                if len(messages) > EXAMPLES:
                    lines.append(f"    ... and {len(messages) - EXAMPLES} more")
        return "\n".join(lines)


def check_rows(labels_csv: Path, table: pd.DataFrame, problems: Problems) -> tuple[np.ndarray, set[int]]:
    """Targets of every row and the bad rows: unknown tags and repeated names (fatal); rows that
    break the label rules (no tags, no weather tag or several, land tags on a cloudy chip) are notes."""
    targets = np.zeros((len(table), NUM_LABELS), np.float32)
    bad: set[int] = set()
    first_row: dict[str, int] = {}
    for row, (name, tags) in enumerate(zip(table["image_name"], table["tags"], strict=True)):
        where = f"{labels_csv} row {row + 2} ({name})"  # +2: header line, 1-based
        if name in first_row:
            problems.fatal["duplicate image name"].append(f"{where}: also on row {first_row[name] + 2}")
            bad.add(row)
        first_row.setdefault(name, row)
        tag_set = parse_tags(tags)
        try:
            targets[row] = tags_to_vector(tag_set, where)
        except UnknownTagError as error:
            problems.fatal["unknown tag"].append(str(error).split(" (known:")[0])
            bad.add(row)
        weather = tag_set & set(WEATHER)
        if not tag_set:
            problems.notes["row without tags"].append(where)
        elif not weather:
            problems.notes["row without a weather tag"].append(f"{where}: {' '.join(sorted(tag_set))}")
        elif len(weather) > 1:  # the competition's rule: exactly one weather label per chip
            problems.notes["row with several weather tags"].append(f"{where}: {' '.join(sorted(weather))}")
        if "cloudy" in tag_set and tag_set - {"cloudy"} - set(WEATHER):  # a cloudy chip carries nothing else
            problems.notes["cloudy row with land tags"].append(f"{where}: {' '.join(sorted(tag_set - {'cloudy'}))}")
    return targets, bad


def describe_chip(source: Source, path: Path) -> tuple[str, tuple[int, int] | None, str | None]:
    """(note or "", (height, width) or None, fatal problem or None) of one chip file of `source`."""
    try:
        data = read_bytes(path)
        image = source.decode(data, path, 0)
    except ChipDecodeError as error:
        return "", None, str(error)
    note = source.describe(data, path) if source.describe else ""
    return note, image.shape[:2], None


def check_chips(paths: Sequence[Path], source: Source, problems: Problems, expected_size: int | None) -> set[int]:
    """Decode every chip; returns the positions of the bad ones (unreadable or of another size)."""
    bad: set[int] = set()
    with ThreadPoolExecutor() as pool:
        described = list(pool.map(partial(describe_chip, source), paths, chunksize=64))
    sizes = Counter(shape for _, shape, _ in described if shape)
    common = (expected_size, expected_size) if expected_size else (sizes.most_common(1)[0][0] if sizes else None)
    for i, (note, shape, fatal) in enumerate(described):
        if fatal:
            kind = "missing image file" if "cannot read file" in fatal else "unreadable chip"
            problems.fatal[kind].append(fatal)
            bad.add(i)
            continue
        if note:
            problems.notes["image of another kind"].append(note)
        if shape != common:
            problems.fatal["chip of another size"].append(
                f"{paths[i]}: {shape[0]}x{shape[1]} px, the others are {common[0]}x{common[1]}"
            )
            bad.add(i)
    return bad


def check_dataset(
    layout: Layout, expected_size: int | None = None
) -> tuple[pd.DataFrame, np.ndarray, Problems, set[int]]:
    """Check the labels file and every chip; returns the table, targets, problems and bad rows."""
    labels_path = layout.labels_path
    table = read_labels_csv(labels_path)
    problems = Problems()
    targets, bad_rows = check_rows(labels_path, table, problems)
    paths = list(layout.chip_paths(table["image_name"]))
    for i in range(len(paths)):
        if i not in bad_rows and not paths[i].is_file():
            problems.fatal["missing image file"].append(f"{labels_path} row {i + 2}: {paths[i]} does not exist")
            bad_rows.add(i)
    present = [i for i in range(len(paths)) if i not in bad_rows]
    checked = check_chips([paths[i] for i in present], layout.source, problems, expected_size)
    bad_rows |= {present[j] for j in checked}
    listed = {path.name for path in paths}
    unlisted = sorted(p.name for p in layout.image_folder.glob(f"*{layout.image_ext}") if p.name not in listed)
    if unlisted:
        problems.notes["image without a CSV row (ignored)"] += [str(layout.image_folder / n) for n in unlisted]
    return table, targets, problems, bad_rows


def label_counts(targets: np.ndarray) -> dict[str, int]:
    return dict(zip(LABELS, targets.sum(axis=0).astype(int).tolist(), strict=True))


def bad_rows_of(layout: Layout, result_dir: Path, on_bad_chip: str = "fail") -> list[int]:
    """CSV rows (0-based) to leave out. Raises DataError on problems unless `on_bad_chip` is "skip".

    The findings are stored under `result_dir`, keyed by the fingerprint of the labels file and of
    every chip file, so an unchanged data set is checked only once; the policy is applied on every
    run, so a run with `fail` stops on chips that an earlier `skip` run left out.
    """
    labels_path = layout.labels_path
    names = read_labels_csv(labels_path)["image_name"]
    sources = [labels_path, *layout.chip_paths(names)]
    result_file = (
        Path(result_dir) / f"check-{labels_path.stem}-{len(names)}chips-{fingerprint(sources, 'v2:0:False')}.json"
    )
    if result_file.is_file():
        findings = json.loads(result_file.read_text())
    else:
        table, targets, problems, bad_rows = check_dataset(layout)
        findings = {
            "chips": len(table),
            "bad_rows": sorted(bad_rows),
            "fatal": bool(problems.fatal),
            "labels": label_counts(targets),
            "problems": problems.summary(),
        }
        write_json(result_file, findings)
    message = f"Data check of {layout.root}: {findings['chips']} chips\n{findings['problems']}"
    if findings.get("fatal", bool(findings["bad_rows"])) and on_bad_chip != "skip":
        raise DataError(message + "\n(set data.on_bad_chip=skip to train without the bad chips)")
    if findings["problems"] and result_file not in REPORTED:  # once per process, not at every setup
        REPORTED.add(result_file)
        bad = findings["bad_rows"]
        if bad:  # chips left out of training: a warning
            log.warning("%s\nSkipping %d bad chips.", message, len(bad))
        else:  # notes only: nothing was left out
            log.info("%s", message)
    return findings["bad_rows"]
