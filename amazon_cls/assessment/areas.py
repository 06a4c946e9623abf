"""Everything `area` does: a reviewed sample checked, the areas of change and no change estimated
with their 95% intervals, the accuracies with their standard errors, and the report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from amazon_cls.assessment.design import UNOBSERVABLE, is_alert
from amazon_cls.assessment.estimator import Z95, Design, Estimate, area_of, error_matrix
from amazon_cls.assessment.review import REFERENCES
from amazon_cls.assessment.sampling import read_text_table
from amazon_cls.store.atomic import remove_stale_temporaries, write_csv, write_text
from amazon_cls.store.done import Done
from amazon_cls.store.report_folders import AreaFolder, SampleFolder
from amazon_cls.store.tables import markdown_table

log = logging.getLogger(__name__)
CLASSES = ("change", "no_change")
FEW_CHANGES = 5  # change units found in a stratum without alerts below which the interval may be too narrow


def estimate(cfg: DictConfig) -> dict[str, Any]:
    """Check the reviewed sample, estimate, write the outputs as one set; returns area.json."""
    sample_path = Path(cfg.sample)
    strata_path = Path(cfg.strata) if cfg.strata else SampleFolder(sample_path.parent).strata
    if not strata_path.is_file():
        raise FileNotFoundError(
            f"{strata_path}: no strata.csv beside {sample_path}; give strata=<the sample's strata.csv>"
        )
    units = reviewed_units(sample_path)
    strata = read_text_table(strata_path, numbers={"cells": int, "area_ha": float, "sampled": int})
    check_strata(units, strata, sample_path, strata_path)
    folder = AreaFolder(Path(cfg.output_dir))
    remove_stale_temporaries(folder.path)
    done = Done(folder.record)
    inputs = [sample_path, strata_path]
    if before := done.finished([folder.area, folder.report], {}, inputs):
        log.info("%s: estimated before from this sample; nothing to do", folder.path)
        return before
    result = Result.of(units, strata, sample_path)
    for note in result.notes:
        log.warning("%s", note)
    by_region = regional(units, sample_path)
    with done.rewriting():
        written = [
            write_csv(folder.area, result.area),
            write_csv(folder.accuracy, result.accuracy),
            write_csv(folder.error_matrix, result.matrix),
            write_text(folder.report, report(result, by_region, sample_path)),
        ]
        if by_region is not None:
            written.append(write_csv(folder.by_region, by_region))
    record = {
        "sample": str(sample_path),
        "area": result.area.to_dict("records"),
        "accuracy": result.accuracy.to_dict("records"),
        "left_out": result.left_out,
    }
    return done.write(written, record, inputs)


def reviewed_units(path: Path) -> pd.DataFrame:
    """sample.csv as exported from review.html, checked: its columns, unique ids, the vocabulary."""
    units = read_text_table(path)
    missing = [name for name in ("sample_id", "stratum", "reference") if name not in units]
    if missing:
        raise ValueError(f"{path}: no {missing} column; give the sample.csv that sample wrote and review.html exported")
    twice = units["sample_id"][units["sample_id"].duplicated(keep=False)]
    if len(twice):
        rows = ", ".join(f"row {index + 2} ({name})" for index, name in twice.items())
        raise ValueError(f"{path}: sample_id given twice: {rows}; each unit is one row")
    wrong = units["reference"][~units["reference"].isin([*REFERENCES, ""])]
    if len(wrong):
        rows = ", ".join(f"row {index + 2} ({value!r})" for index, value in wrong.head(5).items())
        raise ValueError(f"{path}: reference must be one of {', '.join(REFERENCES)} or empty, not: {rows}")
    return units


def check_strata(units: pd.DataFrame, strata: pd.DataFrame, sample_path: Path, strata_path: Path) -> None:
    """The sample's strata are those of its strata.csv, and each was sampled there."""
    known = set(strata["stratum"])
    unknown = sorted(set(units["stratum"]) - known)
    if unknown:
        raise ValueError(
            f"{sample_path}: strata {unknown} are not in {strata_path} (it has {sorted(known)}); "
            "the sample and its strata.csv must come from one run of sample"
        )
    drawn = units["stratum"].value_counts().reindex(strata["stratum"], fill_value=0)
    said = strata.set_index("stratum")["sampled"]
    differ = [name for name in said.index if drawn[name] != said[name]]
    if differ:
        counts = ", ".join(f"{name}: {drawn[name]} units, {said[name]} drawn" for name in differ)
        raise ValueError(
            f"{sample_path}: the units per stratum differ from {strata_path} ({counts}); "
            "rows were added or removed since sample drew them"
        )


@dataclass(frozen=True)
class Result:
    """The estimates of one reviewed sample (or of one region's part of it)."""

    area: pd.DataFrame
    accuracy: pd.DataFrame
    matrix: pd.DataFrame
    left_out: dict[str, int]
    notes: list[str]
    excluded: pd.DataFrame  # strata not estimated: unobservable, or too small to sample

    @classmethod
    def of(cls, units: pd.DataFrame, strata: pd.DataFrame, source: Path | str) -> Result:
        estimated = strata[(strata["stratum"] != UNOBSERVABLE) & (strata["sampled"] > 0)]
        excluded = strata[~strata["stratum"].isin(estimated["stratum"])]
        reviewed = units[units["reference"].isin(CLASSES)]
        left_out = {
            "unclear": int((units["reference"] == "unclear").sum()),
            "unreviewed": int((units["reference"] == "").sum()),
        }
        try:
            design = Design(reviewed["stratum"].to_numpy(), estimated.set_index("stratum")["area_ha"])
        except ValueError as error:
            raise ValueError(f"{source}: {error} (unclear and unreviewed units are left out)") from None
        reference = reviewed["reference"].to_numpy()
        mapped = np.array([is_alert(name) for name in design.strata])
        area = area_table(design, reference, estimated)
        accuracy = accuracy_table(design, reference, mapped)
        counts, proportions = error_matrix(design, reference, list(CLASSES))
        matrix = counts.stack().rename("count").to_frame().join(proportions.stack().rename("proportion"))
        matrix = matrix.reset_index().assign(map=lambda m: np.where(m["stratum"].map(is_alert), "change", "no_change"))
        notes = few_changes(design, reference)
        return cls(
            area, accuracy, matrix[["stratum", "map", "reference", "count", "proportion"]], left_out, notes, excluded
        )


def area_table(design: Design, reference: np.ndarray, strata: pd.DataFrame) -> pd.DataFrame:
    """class, mapped_area_ha, estimated_area_ha, se_ha, ci95_low_ha, ci95_high_ha."""
    rows = []
    for name in CLASSES:
        mapped = strata.loc[strata["stratum"].map(is_alert) == (name == "change"), "area_ha"].sum()
        found = area_of(design, reference, name)
        rows.append([name, mapped, found.value, found.se, found.low, found.high])
    columns = ["class", "mapped_area_ha", "estimated_area_ha", "se_ha", "ci95_low_ha", "ci95_high_ha"]
    return pd.DataFrame(rows, columns=columns).round(4)


def accuracy_table(design: Design, reference: np.ndarray, mapped: np.ndarray) -> pd.DataFrame:
    """User's accuracy of each alert stratum, producer's accuracy of change, overall accuracy."""
    change = reference == "change"
    rows = []
    for name in sorted({s for s in design.strata if is_alert(s)}):
        inside = design.strata == name
        rows.append(accuracy_row(f"users_accuracy {name}", design.ratio(inside & change, inside), int(inside.sum())))
    if change.any():
        rows.append(accuracy_row("producers_accuracy change", design.ratio(mapped & change, change), int(change.sum())))
    rows.append(accuracy_row("overall_accuracy", design.mean(mapped == change), len(change)))
    return pd.DataFrame(rows, columns=["measure", "value", "se", "ci95_low", "ci95_high", "units"]).round(4)


def accuracy_row(measure: str, found: Estimate, units: int) -> list:
    return [measure, found.value, found.se, max(0.0, found.low), min(1.0, found.high), units]


def few_changes(design: Design, reference: np.ndarray) -> list[str]:
    """Strata without alerts where the reviewers found few changes, or none: the normal interval
    may be too narrow there (with none, that stratum adds nothing to the standard error)."""
    notes = []
    for name in design.areas.index:
        found = int(((design.strata == name) & (reference == "change")).sum())
        if not is_alert(name) and found < FEW_CHANGES:
            notes.append(
                f"Stratum {name} holds {found} change unit(s) among {int((design.strata == name).sum())} reviewed: "
                "with so few, the 95% interval can cover less than 95% (with none, the stratum adds nothing to "
                "the standard error, which does not mean it holds no change); a larger sample there helps."
            )
    return notes


def regional(units: pd.DataFrame, sample_path: Path) -> pd.DataFrame | None:
    """Per region, the change area where the sample allows (2 reviewed units in each of its strata)."""
    by_region_path = SampleFolder(sample_path.parent).strata_by_region
    if "region" not in units or not by_region_path.is_file():
        return None
    strata = read_text_table(by_region_path, numbers={"cells": int, "area_ha": float})
    rows = []
    for region, part in strata.groupby("region"):
        inside = units[units["region"] == region]
        drawn = inside["stratum"].value_counts()
        part = part[part["stratum"] != UNOBSERVABLE]
        part = part.assign(sampled=part["stratum"].map(drawn).fillna(0).astype(int).to_numpy())
        try:
            found = Result.of(inside, part[part["sampled"] > 0], f"region {region}")
        except ValueError as error:
            rows.append({"region": region, "note": str(error)})
            continue
        change = found.area.set_index("class").loc["change"]
        rows.append(
            {
                "region": region,
                **change.to_dict(),
                "note": "" if (part["sampled"] > 0).all() else "strata with no unit here are left out",
            }
        )
    return pd.DataFrame(rows)


def report(result: Result, by_region: pd.DataFrame | None, sample_path: Path) -> str:
    """area.md: the design, the matrix, the estimates beside the mapped areas, the caveats."""
    change = result.area.set_index("class").loc["change"]
    excluded = result.excluded
    lines = [
        "# Error-adjusted area",
        "",
        f"From the reviewed sample {sample_path}: a stratified random sample of the monitor run's cells, "
        "labelled blind. These figures are **design-based**: they rest on the random sample and the "
        "reviewers' labels, not on the model; the precision and recall of the monitor report are model-based.",
        "",
        f"**Change: {change['estimated_area_ha']:.2f} ha +- {Z95 * change['se_ha']:.2f} ha "
        f"(95% interval {change['ci95_low_ha']:.2f} to {change['ci95_high_ha']:.2f} ha), against "
        f"{change['mapped_area_ha']:.2f} ha mapped.**",
        "",
        *(
            [
                f"**Read the caveats first:** {len(result.notes)} stratum(s) without alerts hold few reviewed "
                "changes, so the interval may be too narrow.",
                "",
            ]
            if result.notes
            else []
        ),
        "## Areas",
        "",
        markdown_table(result.area),
        "",
        "## Accuracies",
        "",
        markdown_table(result.accuracy),
        "",
        "Overall accuracy says little when change is rare: a map with no change at all scores high. "
        "The user's accuracy of the alerts and the producer's accuracy of change are the figures to read.",
        "",
        "## Error matrix",
        "",
        "Counts of reviewed units, and the estimated area proportions (p_ij = W_i n_ij / n_i).",
        "",
        markdown_table(result.matrix),
        "",
        "## Sample design",
        "",
        f"Left out: {result.left_out['unclear']} unit(s) marked unclear, {result.left_out['unreviewed']} not reviewed.",
        "",
    ]
    if len(excluded):
        lines += [
            "Not estimated (not sampled): "
            + ", ".join(f"{row.stratum} ({row.area_ha:.2f} ha)" for row in excluded.itertuples())
            + ". Unobservable cells were never seen clear; the estimates cover the rest of the area.",
            "",
        ]
    if by_region is not None:
        lines += ["## By region", "", markdown_table(by_region), ""]
    lines += [
        "## Caveats",
        "",
        *[f"- {note}" for note in result.notes],
        "- Standard errors follow Olofsson et al. (2014), without the finite population correction.",
        "",
    ]
    return "\n".join(lines)
