"""What a study leaves in its folder, rewritten from the database by every worker that finishes:
trials.csv, history.png, intermediate.png, importance.png, configs/experiment/<study>.yaml (the
best trial as an `experiment=`) and study.json (the summary, written last)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from amazon_cls.search.space import experiment_yaml
from amazon_cls.search.study import counted
from amazon_cls.store.atomic import write_csv, write_text
from amazon_cls.store.done import Done
from amazon_cls.store.figures import save_figure
from amazon_cls.store.report_folders import StudyFolder

log = logging.getLogger(__name__)
PLOTS = {
    "history": "plot_optimization_history",
    "intermediate": "plot_intermediate_values",  # each trial's val/f2 by epoch: where pruning cut
    "importance": "plot_param_importances",
}


def write_plots(study: optuna.Study, study_dir: Path) -> dict[str, str]:
    """Optuna's own matplotlib plots; one that the study cannot draw yet (importance needs two
    finished trials that differ) is skipped with the reason."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from optuna.visualization import matplotlib as plots

    skipped = {}
    for name, plot in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = getattr(plots, plot)(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as reason:
            skipped[StudyFolder(study_dir).plot(name).name] = str(reason)  # an older one goes with the set
            continue
        figure = axes.ravel()[0].figure if hasattr(axes, "ravel") else axes.figure
        save_figure(figure, StudyFolder(study_dir).plot(name), dpi=110)
        pyplot.close(figure)
    return skipped


def write_outputs(study: optuna.Study, study_dir: Path, n_trials: int, command: str) -> dict[str, Any]:
    """Every output of the study as the database holds it now, as one set; study.json last."""
    folder = StudyFolder(study_dir)
    done = Done(folder.record)
    trials = study.get_trials(deepcopy=False)
    states = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    table = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "user_attrs", "datetime_start", "datetime_complete", "duration")
    )
    summary: dict[str, Any] = {
        "study": study.study_name,
        "n_trials": n_trials,
        "finished": sum(map(counted, trials)) >= n_trials and states.get("running", 0) == 0,
        "counted": sum(map(counted, trials)),
        "states": {state: count for state, count in states.items() if count},
        "settings": study.user_attrs.get("settings"),
        "wall_seconds": wall_seconds(trials),
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    with done.rewriting():
        write_csv(folder.table, table)
        summary["skipped_plots"] = write_plots(study, study_dir)
        if complete:
            summary.update(write_best(study, folder, trials, command, summary["finished"]))
    plots = [folder.plot(name) for name in PLOTS if folder.plot(name).name not in summary["skipped_plots"]]
    written = [folder.table, *plots, *([folder.experiment(study.study_name)] if complete else [])]
    return done.write(written, summary)


def write_best(
    study: optuna.Study, folder: StudyFolder, trials: list[optuna.trial.FrozenTrial], command: str, finished: bool
) -> dict[str, Any]:
    """The best trial as an experiment config to train; its summary (`best` of a finished study,
    `best_so_far` of one that is not), and the default recipe's."""
    best = study.best_trial
    path = folder.experiment(study.study_name)
    which = "The best trial" if finished else "The best trial so far (the study is not finished)"
    comment = (
        f"{which} ({best.number}, {best.value:.4f}) of the study {study.study_name!r}.\n"
        f"  python -m amazon_cls.train --config-dir {path.parent.parent} experiment={path.stem}\n"
        f"Made by: {command}"
    )
    groups = (study.user_attrs.get("settings") or {}).get("groups", [])
    write_text(path, experiment_yaml(best.user_attrs.get("overrides", []), groups, comment))
    summary = {"best" if finished else "best_so_far": {**trial_summary(best), "experiment": str(path)}}
    recipe = [t for t in trials if t.user_attrs.get("default_recipe") and t.state == TrialState.COMPLETE]
    if recipe:  # the run that finished: an interrupted one's retry, perhaps
        summary["default_recipe"] = trial_summary(recipe[0])
    return summary


def trial_summary(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    runs = {key: value for key, value in trial.user_attrs.items() if key.startswith("run_")}
    return {"number": trial.number, "value": trial.value, "params": trial.params, "runs": runs}


def wall_seconds(trials: list[optuna.trial.FrozenTrial]) -> float | None:
    """From the first trial's start to the last one's end, across every worker."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return round((max(ends) - min(starts)).total_seconds(), 1) if starts and ends else None
