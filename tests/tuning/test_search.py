"""tfrec.tuning.search: a tiny search end to end, a failed (NaN) trial recorded while the search
goes on, resume after a kill, chief/worker tuning on loopback, and a ranking search.

Every search trains the tests/tiny_shop.py data with the tiny BERT checkpoint (frozen), one
epoch per trial, one to three trials, under tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import (
    Config,
    SplitConfig,
    config_from_dict,
    load_config,
    save_config,
)
from tfrec.core.rundir import RunDir

REPO = Path(__file__).resolve().parents[2]
TFREC = [sys.executable, "-m", "tfrec.cli"]

SMALL_SPACE = {
    "retrieval.temperature": {"type": "float", "min": 0.05, "max": 0.5, "sampling": "log"},
    "retrieval.embedding_dim": {"type": "choice", "values": [8, 16]},
    "retrieval.projection_layers": {"type": "choice", "values": [[], [16]]},
}


def tiny_tuning_config(root: Path, bert_dir: Path, **tuning) -> Config:
    """A config whose run (tiny shop clean tables) is written under `root`."""
    cfg = Config(name="tiny_tune", run_dir=str(root / "run"))
    cfg.text.checkpoint = str(bert_dir)
    cfg.text.cache_dir = str(root / "cache")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [16]
    cfg.retrieval.id_embedding_dim = 8
    cfg.retrieval.batch_size = 32
    cfg.data.split = SplitConfig(test_days=5, val_days=5)
    cfg.training.verbose = 0
    data = {
        "epochs": 1,
        "max_trials": 2,
        "search_space": SMALL_SPACE,
        "objective": "val_recall_at_10",
        **tuning,
    }
    cfg.tuning = config_from_dict({"tuning": data}).tuning
    run = RunDir(cfg.run_path)
    if not run.clean_table("items").exists():
        items, events = make_shop()
        run.clean.mkdir(parents=True, exist_ok=True)
        items.to_parquet(run.clean_table("items"), index=False)
        events.to_parquet(run.clean_table("events"), index=False)
    return cfg


def write_config(cfg: Config, path: Path) -> Path:
    save_config(cfg, path)
    return path


def trial_records(project: Path) -> dict[str, dict]:
    return {
        p.parent.name.removeprefix("trial_"): json.loads(p.read_text())
        for p in sorted(project.glob("trial_*/tfrec_trial.json"))
    }


def trial_states(project: Path) -> dict[str, str]:
    return {
        p.parent.name.removeprefix("trial_"): json.loads(p.read_text())["status"]
        for p in sorted(project.glob("trial_*/trial.json"))
    }


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_tiny_search_writes_best_config_table_plot_and_report(tmp_path, tiny_bert_dir, tuner):
    from tfrec.tuning.search import run_tuning

    extra = {"epochs": 3, "hyperband_factor": 3} if tuner == "hyperband" else {}
    cfg = tiny_tuning_config(
        tmp_path,
        tiny_bert_dir,
        tuner=tuner,
        max_trials=2,
        compare_with_default=tuner == "random",
        **extra,
    )
    run = RunDir(cfg.run_path)
    summary = run_tuning(cfg, run)
    out = run.tuning
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == summary["trials"] >= 2
    assert set(trials["status"]) == {"COMPLETED"}
    assert trials["objective"].between(0, 1).all()
    assert (trials["seconds"] > 0).all()
    assert {"temperature", "embedding_dim", "projection_layers"} <= set(trials.columns)
    assert (out / "objective.png").read_bytes()[:4] == b"\x89PNG"
    page = run.report_page("tuning").read_text()
    assert "Objective by trial" in page and "data:image/png;base64," in page
    best = load_config(out / "best_config.yaml")
    header = (out / "best_config.yaml").read_text().splitlines()[0]
    # best_config.yaml holds the winner: the best trial's values, or the config as given
    winner_values = summary["best_values"] if summary["winner"] == "trial" else {}
    for key in summary["best_values"]:
        section, name = key.split(".")
        expected = winner_values.get(key, getattr(getattr(cfg, section), name))
        assert getattr(getattr(best, section), name) == expected, key
    assert summary["best_objective"] == pytest.approx(trials["objective"].max())
    if tuner == "random":
        default = summary["default_objective"]
        assert default is not None
        assert json.loads((out / "default.json").read_text())["objective"] == pytest.approx(default)
        # a random trial was trained like the default (same epochs and seeds): not retrained
        assert summary["trial_retrained"] is False
        assert summary["compared_trial_objective"] == pytest.approx(summary["best_objective"])
        beats = summary["compared_trial_objective"] > default
        assert summary["winner"] == ("trial" if beats else "default")
        assert header.startswith("# The best trial" if beats else "# The config as given")
    else:
        assert summary["default_objective"] is None and summary["winner"] == "trial"
        assert "not compared with the default config" in (out / "best_config.yaml").read_text()


def test_nan_trial_is_recorded_failed_and_the_search_goes_on(tmp_path, tiny_bert_dir):
    from tfrec.tuning.search import run_tuning

    # learning rates of 1e30 with SGD blow the loss up to NaN; 1e-3 trains normally
    space = {
        "retrieval.learning_rate": {"type": "choice", "values": [1e30, 1e-3]},
        "retrieval.optimizer": {"type": "choice", "values": ["sgd"]},
    }
    cfg = tiny_tuning_config(
        tmp_path,
        tiny_bert_dir,
        search_space=space,
        tuner="random",
        max_trials=2,
        compare_with_default=False,
    )
    cfg.retrieval.batch_size = 8
    # without the text residual's identity path the 1e30 steps overflow the weights to NaN
    cfg.retrieval.text_residual = False
    summary = run_tuning(cfg, RunDir(cfg.run_path))
    trials = pd.read_csv(RunDir(cfg.run_path).tuning / "trials.csv")
    by_lr = {float(r["learning_rate"]): r for _, r in trials.iterrows()}
    assert by_lr[1e30]["status"] == "FAILED"
    assert "loss became NaN or infinite" in by_lr[1e30]["reason"]
    assert by_lr[1e-3]["status"] == "COMPLETED"
    assert summary["failed"] == 1 and summary["completed"] == 1
    assert summary["best_values"]["retrieval.learning_rate"] == pytest.approx(1e-3)


def test_objective_the_model_does_not_report_stops_the_search(tmp_path, tiny_bert_dir):
    import keras_tuner as kt

    from tfrec.tuning.search import make_tuner

    cfg = tiny_tuning_config(tmp_path, tiny_bert_dir, max_trials=1)
    tuner = make_tuner(cfg, RunDir(cfg.run_path))
    tuner.oracle.objective = kt.Objective("val_ndcg_at_10", "max")
    with pytest.raises(kt.errors.FatalValueError, match="'val_ndcg_at_10' is not reported"):
        tuner.search()


def _tune(path: Path, log: Path) -> subprocess.Popen:
    """`tfrec tune CONFIG` in a subprocess, its output in `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [*TFREC, "tune", str(path)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )


def test_killed_search_resumes_without_repeating_finished_trials(tmp_path, tiny_bert_dir):
    cfg = tiny_tuning_config(tmp_path, tiny_bert_dir, max_trials=2, compare_with_default=False)
    path = write_config(cfg, tmp_path / "tune.yaml")
    project = RunDir(cfg.run_path).tuning / "search"
    proc = _tune(path, tmp_path / "first.log")
    try:
        deadline = time.time() + 240
        # kill the search as soon as trial 0 has finished (its record is written at its end)
        while time.time() < deadline and "0" not in trial_records(project):
            assert proc.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        assert "0" in trial_records(project), "trial 0 did not finish in time"
    finally:
        proc.kill()
        proc.wait(30)
    first = trial_records(project)["0"]
    assert trial_states(project)["0"] == "COMPLETED"
    assert "1" not in trial_records(project)
    again = _tune(path, tmp_path / "again.log")
    try:
        again.wait(300)
    finally:
        again.kill()
        again.wait(30)
    out = (tmp_path / "again.log").read_text()
    assert again.returncode == 0, out
    assert "resuming: 1 finished trial(s) kept" in out
    records = trial_records(project)
    assert sorted(records) == ["0", "1"]
    assert records["0"] == first  # trial 0 was not run again
    assert [len(r["runs"]) for r in records.values()] == [1, 1]
    assert set(trial_states(project).values()) == {"COMPLETED"}
    assert len(pd.read_csv(project.parent / "trials.csv")) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chief_and_two_workers_run_every_trial_once(tmp_path, tiny_bert_dir):
    cfg = tiny_tuning_config(tmp_path, tiny_bert_dir, max_trials=3, compare_with_default=False)
    path = write_config(cfg, tmp_path / "tune.yaml")
    project = RunDir(cfg.run_path).tuning / "search"
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    procs = {}
    with contextlib.ExitStack() as files:
        try:
            for name in ("chief", "tuner0", "tuner1"):
                log = files.enter_context(open(tmp_path / f"{name}.log", "w"))
                procs[name] = subprocess.Popen(
                    [*TFREC, "tune", str(path)],
                    cwd=REPO,
                    env={**os.environ, **env, "KERASTUNER_TUNER_ID": name},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.time() + 300
            while time.time() < deadline:
                codes = {name: p.poll() for name, p in procs.items()}
                if any(c not in (None, 0) for c in codes.values()) or all(
                    c == 0 for c in codes.values()
                ):
                    break
                time.sleep(0.5)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(30)
    outputs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} exited {p.returncode}:\n{outputs[name][-3000:]}"
    records = trial_records(project)
    assert sorted(records) == ["0", "1", "2"]
    assert all(len(r["runs"]) == 1 for r in records.values())  # every trial ran exactly once
    ran_by = [r["runs"][0]["tuner_id"] for r in records.values()]
    assert set(ran_by) == {"tuner0", "tuner1"}, ran_by
    assert set(trial_states(project).values()) == {"COMPLETED"}
    trials = pd.read_csv(project.parent / "trials.csv")  # written by the chief
    assert sorted(trials["tuner"]) == sorted(ran_by)
    assert "worker tuner0 finished" in outputs["tuner0"]
    assert "3 trial(s): 3 completed, 0 failed" in outputs["chief"]


def test_ranking_search_tunes_the_ranker_of_a_trained_run(tmp_path, tiny_bert_dir):
    from tiny_run import make_tiny_run

    from tfrec.tuning.search import run_tuning

    cfg, run, *_ = make_tiny_run(tmp_path, tiny_bert_dir)
    cfg.training.verbose = 0
    cfg.ranking.unshown_negatives = 0
    space = {
        "ranking.cross_layers": {"type": "int", "min": 1, "max": 2},
        "ranking.deep_layers": {"type": "choice", "values": [[8], [16, 8]]},
        "ranking.learning_rate": {"type": "float", "min": 1e-3, "max": 1e-2, "sampling": "log"},
    }
    cfg.tuning = config_from_dict(
        {
            "tuning": {
                "model": "ranking",
                "max_trials": 2,
                "epochs": 1,
                "search_space": space,
                "compare_with_default": False,
            }
        }
    ).tuning
    summary = run_tuning(cfg, run)
    assert summary["objective"] == "val_click_auc"
    assert summary["completed"] == 2
    trials = pd.read_csv(run.tuning / "trials.csv")
    assert trials["objective"].between(0, 1).all()
    best = load_config(run.tuning / "best_config.yaml")
    assert best.ranking.deep_layers == summary["best_values"]["ranking.deep_layers"]
    assert best.ranking.cross_layers == summary["best_values"]["ranking.cross_layers"]
