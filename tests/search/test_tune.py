"""tune: a study of the tiny model, a pruned trial, a resume after SIGTERM, two workers on one
SQLite file, and a space that is checked before any trial."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from amazon_cls.search.space import default_params, distributions_of, experiment_yaml, trial_overrides
from amazon_cls.search.study import STALE_SECONDS, Unfinished, run_study, storage_of
from amazon_cls.search.trials import training_overrides
from tests.helpers import ROOT, run_module

optuna.logging.set_verbosity(optuna.logging.WARNING)


def tune_command(tiny_root: Path, study_dir: Path, *extra: str) -> list[str]:
    return [
        f"study_dir={study_dir}",
        f"data.root={tiny_root}",
        "model=tiny",
        "trainer.max_epochs=2",
        "tta=none",
        "data.num_workers=0",
        "data.persistent_workers=false",
        "trainer.precision=32",
        "trainer.enable_progress_bar=false",
        f"data.folds_dir={study_dir.parent}/folds",
        *extra,
    ]


def trials_of(study_dir: Path, name: str = "recipe") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{study_dir / 'study.db'}").get_trials()


def test_a_study_runs_its_trials_and_writes_the_best_as_an_experiment(tiny_root: Path, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    run_module("amazon_cls.tune", *tune_command(tiny_root, study_dir, "n_trials=4"))
    trials = trials_of(study_dir)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert trials[0].user_attrs["default_recipe"] and trials[0].params["model/loss"] == "bce"
    assert trials[0].params["model.optimizer.lr"] == pytest.approx(3e-3)  # the tiny model's own recipe
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    summary = json.loads((study_dir / "study.json").read_text())
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["counted"] == 4
    for trial in trials:  # a finished training run each, with its TensorBoard run
        run = Path(trial.user_attrs["run_fold0"])
        assert json.loads((run / "metrics.json").read_text())["val/f2"] == pytest.approx(trial.value)
        assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    for plot in ("history.png", "importance.png", "intermediate.png"):
        assert (study_dir / plot).stat().st_size > 5000
    assert len((study_dir / "trials.csv").read_text().splitlines()) == 5
    config_dir = study_dir / "configs"
    composed = run_module("amazon_cls.train", "--config-dir", str(config_dir), "experiment=recipe", "--cfg", "job")
    lr = best.params["model.optimizer.lr"]
    assert f"lr: {lr}" in composed.stdout and f"name: {best.params['model/loss']}" in composed.stdout

    # the same study, one more trial, with a pruner that prunes at the first epoch it sees
    prune_at_once = [
        "pruner._target_=optuna.pruners.ThresholdPruner",
        "~pruner.n_startup_trials",
        "~pruner.n_warmup_steps",
        "+pruner.lower=2.0",
    ]
    run_module("amazon_cls.tune", *tune_command(tiny_root, study_dir, "n_trials=5", *prune_at_once))
    trials = trials_of(study_dir)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 + [TrialState.PRUNED]
    pruned = Path(trials[4].user_attrs["run_fold0"])
    assert not (pruned / "metrics.json").exists()  # a pruned run is never recorded as finished
    assert list(trials[4].intermediate_values) == [0]


def start_tune(tiny_root: Path, study_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "amazon_cls.tune", *tune_command(tiny_root, study_dir, *extra)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, worker: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert worker.poll() is None, worker.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_sigterm_fails_the_running_trial_and_the_same_command_resumes(tiny_root: Path, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    long = ("n_trials=2", "trainer.max_epochs=12", "+trainer.limit_train_batches=1", "pruning=false")
    worker = start_tune(tiny_root, study_dir, *long)
    first_epoch = study_dir / "trials" / "trial_0000" / "fold0" / "checkpoints" / "last.ckpt"
    wait_for(first_epoch.exists, worker)  # inside the first trial's fit
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=300)  # a loaded CI machine ends the trial's batch late
    assert worker.returncode == 143, output[-3000:]
    assert "Interrupted (SIGTERM)" in output and "the same command resumes the study (2 of 2 trials to run)" in output
    (interrupted,) = trials_of(study_dir)
    assert interrupted.state == TrialState.FAIL
    assert not (first_epoch.parent.parent / "metrics.json").exists()

    resumed = start_tune(tiny_root, study_dir, *long)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-3000:]
    trials = trials_of(study_dir)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == interrupted.params  # the enqueued recipe is run again, not lost
    assert json.loads((study_dir / "study.json").read_text())["counted"] == 2


@pytest.mark.slow
def test_two_workers_share_one_study(tiny_root: Path, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    first = start_tune(tiny_root, study_dir, "n_trials=3", "pruning=false")
    wait_for((study_dir / "trials" / "trial_0000" / "fold0" / "checkpoints" / "last.ckpt").exists, first)
    first.send_signal(signal.SIGSTOP)  # held inside its first trial until the second worker has taken one
    second = start_tune(tiny_root, study_dir, "n_trials=3", "pruning=false")
    wait_for((study_dir / "trials" / "trial_0001").exists, second)
    first.send_signal(signal.SIGCONT)
    outputs = [worker.communicate(timeout=600)[0] for worker in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    trials = trials_of(study_dir)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # the budget is the study's, not each worker's
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    assert len({Path(t.user_attrs["run_fold0"]) for t in trials}) == 3


def test_another_command_for_the_same_study_is_refused(tiny_root: Path, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(study_name="recipe", storage=storage, direction="maximize")
    study.set_user_attr("settings", {"train_overrides": ["model=small"]})
    result = subprocess.run(
        [sys.executable, "-m", "amazon_cls.tune", *tune_command(tiny_root, study_dir, f"storage={storage}")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "study 'recipe' in sqlite:" in output and "made with other settings" in output
    assert "Traceback" not in output


def test_a_bad_space_is_named_before_any_trial(tiny_root: Path, tmp_path: Path) -> None:
    spaces = tmp_path / "configs" / "tune"
    spaces.mkdir(parents=True)
    (spaces / "hinge.yaml").write_text(
        "enqueue_recipe: true\nspace:\n  model/loss: {type: categorical, choices: [bce, hinge]}\n"
    )
    (spaces / "normal.yaml").write_text(
        "enqueue_recipe: true\nspace:\n  model.optimizer.lr: {type: normal, low: 0, high: 1}\n"
    )
    for overrides, message in [
        (["tune=hinge"], "a trial of tune.space, model/loss=hinge:"),
        (["tune=normal"], "tune.space.model.optimizer.lr.type='normal': choose one of ['categorical', 'float', 'int']"),
        (["data.fold=1"], "data.fold: a study trains the folds of folds=[...]; give folds=[k] instead"),
    ]:
        command = [
            sys.executable,
            "-m",
            "amazon_cls.tune",
            "--config-dir",
            str(tmp_path / "configs"),
            *tune_command(tiny_root, tmp_path / "s", *overrides),
        ]
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1 and message in output and "Traceback" not in output, (overrides, output[-2000:])
        assert not (tmp_path / "s" / "study.db").exists()


def test_the_space_becomes_overrides_and_an_experiment() -> None:
    space = {
        "model.optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "model/loss": {"type": "categorical", "choices": ["bce", "focal"]},
    }
    distributions = distributions_of(space)
    assert distributions == {
        "model.optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True),
        "model/loss": CategoricalDistribution(["bce", "focal"]),
    }
    params = {"model.optimizer.lr": 0.003, "model/loss": "focal"}
    assert trial_overrides(params) == ["model/loss=focal", "model.optimizer.lr=0.003"]
    groups = {"model", "model/loss"}
    text = experiment_yaml(["model=small", *trial_overrides(params), "trainer.max_epochs=3"], groups, "a comment")
    assert text.startswith("# @package _global_\n# a comment\n")
    assert "- override /model: small\n- override /model/loss: focal\n" in text
    assert "model:\n  optimizer:\n    lr: 0.003\n" in text and "trainer:\n  max_epochs: 3\n" in text
    assert default_params({"model.optimizer.lr": 3e-3}, {"model/loss": "bce"}, distributions) == {
        "model.optimizer.lr": 3e-3,
        "model/loss": "bce",
    }
    assert default_params({"model.optimizer.lr": 0.5}, {"model/loss": "bce"}, distributions) is None
    assert training_overrides(
        ["model=tiny", "n_trials=3", "tune=recipe", "+tune.space.x=1", "hydra.verbose=true", "sampler.seed=3"]
    ) == ["model=tiny"]
    with pytest.raises(ValueError, match=r"tune.space.model/loss.low: not an option of a categorical distribution"):
        distributions_of({"model/loss": {"type": "categorical", "choices": ["bce"], "low": 1}})


def test_after_a_sigkill_the_same_command_retries_the_dead_workers_trial_at_once(
    tiny_root: Path, tmp_path: Path
) -> None:
    study_dir = tmp_path / "study"
    long = ("n_trials=2", "trainer.max_epochs=12", "+trainer.limit_train_batches=1", "pruning=false")
    worker = start_tune(tiny_root, study_dir, *long)
    wait_for((study_dir / "trials" / "trial_0000" / "fold0" / "checkpoints" / "last.ckpt").exists, worker)
    worker.kill()  # no word, no chance to mark its trial: only its host and pid are left
    worker.communicate()
    (killed,) = trials_of(study_dir)
    assert killed.state == TrialState.RUNNING and killed.user_attrs["worker"].endswith(f":{worker.pid}")

    started = time.monotonic()
    again = start_tune(tiny_root, study_dir, *long)  # at once: long before the heartbeat is stale
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output[-3000:]
    assert f"Trial 0: its worker {killed.user_attrs['worker']} is gone; it is run again" in output
    trials = trials_of(study_dir)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == killed.params and trials[1].user_attrs.get("default_recipe")
    summary = json.loads((study_dir / "study.json").read_text())
    assert summary["finished"] and summary["counted"] == 2 and "default_recipe" in summary and "best" in summary
    assert time.monotonic() - started < STALE_SECONDS  # not waited out


def a_study(tmp_path: Path) -> optuna.Study:
    return optuna.create_study(study_name="s", storage=storage_of(None, tmp_path), direction="maximize")


def running_trial(study: optuna.Study, worker: str) -> optuna.Trial:
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.set_user_attr("worker", worker)
    return trial


def never(trial: optuna.Trial) -> float:
    raise AssertionError("no trial is left to start")


def test_a_worker_with_nothing_to_start_waits_for_the_others_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("amazon_cls.search.study.WAIT_SECONDS", 0.05)
    study = a_study(tmp_path)
    other = running_trial(study, f"{socket.gethostname()}:{os.getpid()}")  # alive: this very process
    threading.Timer(0.5, lambda: study.tell(other, 0.7)).start()
    assert run_study(study, never, n_trials=1, timeout=None) == 0  # returns once the other trial ended
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]


def test_time_running_out_while_another_worker_runs_is_not_a_finished_study(tmp_path: Path) -> None:
    study = a_study(tmp_path)
    running_trial(study, "another-node:4242")
    with pytest.raises(Unfinished) as raised:
        run_study(study, never, n_trials=1, timeout=0.2)
    assert "trial 0 (worker another-node:4242) may still be running" in str(raised.value)
    assert f"retried once its heartbeat is {STALE_SECONDS} s old" in str(raised.value)


def test_a_resumed_study_draws_new_points_reproducibly(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from amazon_cls.search.tuning import resumed_sampler

    sampler = OmegaConf.create({"_target_": "optuna.samplers.TPESampler", "seed": 0, "n_startup_trials": 4})

    def first_point(trials_before: int) -> float:
        study = optuna.create_study(sampler=resumed_sampler(sampler, trials_before))
        return study.ask().suggest_float("lr", 1e-4, 1e-2, log=True)

    assert first_point(2) == first_point(2)  # reproducible
    assert first_point(2) != first_point(0)  # not the first process's points again
