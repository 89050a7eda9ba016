"""`run_tuning`: the `tune` stage and `tfrec tune CONFIG`.

    runs/<name>/tuning/search/           Keras Tuner's project: oracle.json, trial_*/ (resume)
                tuning/trials.csv        one row per trial: values, objective, status, seconds
                tuning/objective.png     objective by trial, best so far, the default config
                tuning/best_config.yaml  the winner (`tfrec train`): the best trial's config, or
                                         the config as given when no trial beats it
                                         (tfrec/tuning/winner.py)
                tuning/default.json      the default config's objective (trained once, cached)
                tuning/summary.json      objective, best trial, default versus best
                report/tuning.html       the page with all of the above

Distributed: start the same command on every machine with `KERASTUNER_TUNER_ID` (`chief` on
one, `tuner0`, `tuner1`, ... on the others), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` set. The chief serves the oracle, waits for the workers and writes the
outputs; the workers run trials.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pandas as pd
from keras_tuner.src.distribute import utils as dist_utils

from tfrec.config import (
    Config,
    config_to_dict,
    objective_name,
    resolve_search_space,
    save_config,
)
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.tuning.hypermodels import make_hypermodel
from tfrec.tuning.report import objective_plot, short_names, trials_frame, write_tuning_html
from tfrec.tuning.space import config_value, config_values, format_value, trial_config
from tfrec.tuning.tuner import ConfigTuner, failure_reason, make_oracle, trial_record
from tfrec.tuning.winner import comparable_trial_objective, pick_winner


def make_tuner(cfg: Config, run: RunDir, data=None) -> ConfigTuner:
    """The tuner of a config: its oracle, HyperModel and project directory.

    Args:
        cfg: Config. Its `tuning` section says what is searched and how.
        run: RunDir. The run whose data the trials train on; the Keras Tuner project is
            `tuning.directory/tuning.project_name`, by default under the run's `tuning/`.
        data: PreparedData, optional. The run's prepared data (the `tune` stage passes it;
            without it the HyperModel loads it from `run` on first use).

    Example:
        >>> tuner = make_tuner(cfg, RunDir(cfg.run_path), data)
        >>> tuner.search()
    """
    t = cfg.tuning
    space = resolve_search_space(cfg)
    objective = objective_name(cfg)
    hypermodel = make_hypermodel(cfg, space, run, objective, data)
    directory = Path(t.directory) if t.directory else run.tuning
    return ConfigTuner(
        make_oracle(t, objective),
        hypermodel,
        epochs=t.epochs,
        early_stopping_patience=t.early_stopping_patience,
        executions_per_trial=t.executions_per_trial,
        directory=str(directory),
        project_name=t.project_name,
        overwrite=t.overwrite,
    )


def trial_rows(tuner: ConfigTuner) -> list[dict]:
    """Every trial of the search (from the oracle) with its record (seconds, tuner, reason)."""
    rows = []
    objective = tuner.objective.name
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        record = trial_record(tuner, trial_id)
        last = record["runs"][-1] if record["runs"] else {}
        status = str(trial.status)
        value = trial.score if status == "COMPLETED" else None
        if value is None and trial.metrics.exists(objective):
            value = trial.metrics.get_best_value(objective)
        rows.append(
            {
                "trial": trial_id,
                "status": status,
                "objective": float(value) if value is not None else float("nan"),
                "seconds": last.get("seconds", float("nan")),
                "tuner": last.get("tuner_id", ""),
                "runs": len(record["runs"]),
                "reason": failure_reason(trial.message) if status != "COMPLETED" else None,
                "values": config_values(trial.hyperparameters.values, tuner.hypermodel.space),
                "hp": dict(trial.hyperparameters.values),
            }
        )
    return rows


def default_objective(tuner: ConfigTuner, cfg: Config, out: Path) -> float | None:
    """The objective of the config as given, trained like a trial (cached in default.json)."""
    t = cfg.tuning
    key = {
        "config": {k: v for k, v in config_to_dict(cfg).items() if k != "tuning"},
        "epochs": t.epochs,
        "patience": t.early_stopping_patience,
        "executions": t.executions_per_trial,
        "objective": tuner.objective.name,
    }
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    path = out / "default.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("fingerprint") == fingerprint:
            echo(
                f"[tune] default config: {tuner.objective.name} {cached['objective']:.4f} (cached)"
            )
            return cached["objective"]
    echo(f"[tune] training the default config for {t.epochs} epoch(s) to compare")
    t0 = time.time()
    try:
        results = [
            tuner.train_config(cfg, None, epochs=t.epochs, execution=e)
            for e in range(t.executions_per_trial)
        ]
    except Exception as e:  # the comparison is informative; a failing default is reported
        echo(f"[tune] the default config failed: {type(e).__name__}: {e}")
        return None
    value = sum(r[tuner.objective.name] for r in results) / len(results)
    path.write_text(
        json.dumps(
            {"fingerprint": fingerprint, "objective": value, "seconds": round(time.time() - t0, 1)},
            indent=2,
        )
    )
    return value


def run_tuning(cfg: Config, run: RunDir, data=None) -> dict:
    """Search the config's space with Keras Tuner; write the outputs (on the chief).

    Args:
        cfg: Config. Its `tuning` section says what is searched and how.
        run: RunDir. The outputs go to the run's `tuning/` and `report/tuning.html`.
        data: PreparedData, optional. The run's prepared data (the `tune` stage passes it;
            without it the HyperModel loads it from `run` on first use).

    Returns:
        The summary (objective, trials, completed, failed, default versus best, best config
        path), or `{"role": "worker", ...}` on a worker of a distributed search.

    Example:
        >>> summary = run_tuning(cfg, RunDir(cfg.run_path), data)
        >>> summary["best_config"]
        'runs/quickstart/tuning/best_config.yaml'
    """
    t = cfg.tuning
    tuner = make_tuner(cfg, run, data)
    space = tuner.hypermodel.space
    objective = tuner.objective
    role = (
        "chief"
        if dist_utils.is_chief_oracle()
        else ("worker " + tuner.tuner_id if dist_utils.has_chief_oracle() else "local")
    )
    echo(
        f"[tune] {t.tuner} search over {t.model} ({role}): {len(space)} hyperparameter(s), "
        f"objective {objective.name} ({objective.direction}), "
        + (f"{t.max_trials} trial(s)" if t.tuner != "hyperband" else "hyperband schedule")
        + f", {t.epochs} epoch(s) each; project {tuner.project_dir}"
    )
    if not role.startswith("worker"):  # a worker's oracle is a client of the chief's
        done = [
            tr for tr in tuner.oracle.trials.values() if str(tr.status) in ("COMPLETED", "FAILED")
        ]
        if done:
            echo(f"[tune] resuming: {len(done)} finished trial(s) kept")
    for name, p in space.items():
        rng = (
            ", ".join(format_value(v) for v in p.values)
            if p.type == "choice"
            else f"{p.min:g} .. {p.max:g}" + (f" ({p.sampling})" if p.sampling != "linear" else "")
        )
        echo(f"[tune]   {name}: {p.type} {rng}")
    t0 = time.time()
    tuner.search(verbose=1)
    if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
        echo(f"[tune] worker {tuner.tuner_id} finished ({time.time() - t0:.1f} s)")
        return {"role": "worker", "tuner_id": tuner.tuner_id}
    return write_outputs(cfg, run, tuner)


def write_outputs(cfg: Config, run: RunDir, tuner: ConfigTuner) -> dict:
    """Trials table (printed and CSV), best config, default versus best, plot and HTML."""
    t = cfg.tuning
    objective = tuner.objective
    out = run.tuning
    out.mkdir(parents=True, exist_ok=True)
    keys = list(tuner.hypermodel.space)
    rows = trial_rows(tuner)
    frame = trials_frame(rows, keys)
    frame.to_csv(out / "trials.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        shown = frame.drop(columns=["reason"]) if not frame["reason"].any() else frame
        echo("[tune] " + shown.to_string(index=False).replace("\n", "\n[tune] "))
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    echo(
        f"[tune] {len(rows)} trial(s): {len(completed)} completed, {len(failed)} failed"
        + "".join(f"\n[tune]   trial {r['trial']} failed: {r['reason']}" for r in failed)
    )
    summary: dict = {
        "objective": objective.name,
        "direction": objective.direction,
        "tuner": t.tuner,
        "trials": len(rows),
        "completed": len(completed),
        "failed": len(failed),
    }
    default = default_objective(tuner, cfg, out) if t.compare_with_default else None
    summary["default_objective"] = default
    best_values = {}
    if completed:
        best_trial = tuner.oracle.get_best_trials(1)[0]
        best = next(r for r in rows if r["trial"] == best_trial.trial_id)
        best_values = best["values"]
        best_cfg = trial_config(cfg, best_values)
        value, retrained = comparable_trial_objective(
            tuner, cfg, best_cfg, best["hp"], best["objective"]
        )
        verdict = pick_winner(value, default, objective.direction, retrained)
        path = out / "best_config.yaml"
        save_config(best_cfg if verdict.winner == "trial" else cfg, path)
        path.write_text(
            _yaml_header(t, tuner, objective.name, best, verdict, path)
            + path.read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        summary.update(
            {
                "best_trial": best["trial"],
                "best_objective": best["objective"],
                "best_values": best_values,
                "compared_trial_objective": verdict.trial_objective,
                "trial_retrained": verdict.retrained,
                "winner": verdict.winner,
                "verdict": verdict.reason,
                "best_config": str(path),
            }
        )
        _print_comparison(cfg, objective.name, default, best, keys, verdict.trial_objective)
        echo(f"[tune] {verdict.reason}")
        echo(
            f"[tune] best config ({'default config' if verdict.winner == 'default' else 'trial ' + best['trial']}): {path}"
        )
    else:
        echo("[tune] no trial completed: no best config written")
    comparison = _comparison_frame(cfg, objective.name, default, best_values, completed, rows, keys)
    png = objective_plot(frame, objective.name, objective.direction, default, out / "objective.png")
    notes = [
        f"{t.tuner} search over the {t.model} model, objective {objective.name} "
        f"({objective.direction}), {t.epochs} epoch(s) per trial with early stopping "
        f"(patience {t.early_stopping_patience}); {summary['completed']} of {summary['trials']} "
        f"trial(s) completed, {summary['failed']} failed.",
        f"Keras Tuner project: {tuner.project_dir}. Best config: {summary.get('best_config', '-')}.",
    ]
    if "verdict" in summary:
        notes.append(f"Best trial versus the default config: {summary['verdict']}.")
    page = write_tuning_html(
        run.report_page("tuning"), f"tfrec tuning: {cfg.name}", notes, comparison, frame, png
    )
    summary["report"] = str(page)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    echo(f"[tune] trials in {out / 'trials.csv'}, plot {png}, report {page}")
    return summary


def _yaml_header(t, tuner, objective: str, best: dict, verdict, path: Path) -> str:
    """The comment lines on top of best_config.yaml: which config it is and why."""
    if verdict.winner == "default":
        head = (
            f"# The config as given: it beat every trial of the {t.tuner} search in "
            f"{tuner.project_dir}.\n# {objective} {verdict.default_objective:.4f} versus the "
            f"best trial ({best['trial']}) {verdict.trial_objective:.4f}"
        )
    else:
        head = (
            f"# The best trial ({best['trial']}) of the {t.tuner} search in {tuner.project_dir}:\n"
            f"# {objective} {verdict.trial_objective:.4f}"
            + (
                f" versus the default config {verdict.default_objective:.4f}"
                if verdict.default_objective is not None
                else " (not compared with the default config)"
            )
        )
    how = (
        "the best trial retrained from scratch" if verdict.retrained else "both trained"
    ) + f" for at most {t.epochs} epoch(s), the same seeds"
    return f"{head}\n# ({how}).\n# Train it: tfrec train {t.model} {path}\n"


def _comparison_frame(cfg, objective, default, best_values, completed, rows, keys) -> pd.DataFrame:
    best = next((r for r in rows if r["values"] == best_values and r in completed), None)
    names = short_names(keys)
    table = [
        {
            "": objective,
            "default config": default if default is not None else float("nan"),
            "best trial": best["objective"] if best else float("nan"),
        }
    ]
    for k in keys:
        table.append(
            {
                "": names[k],
                "default config": format_value(config_value(cfg, k)),
                "best trial": format_value(best_values[k]) if k in best_values else "",
            }
        )
    return pd.DataFrame(table)


def _print_comparison(cfg, objective, default, best, keys, compared) -> None:
    width = max(len(objective), *(len(k) for k in keys)) + 2
    echo(f"[tune] {'':{width}s} {'default config':>16s} {'best trial ' + best['trial']:>16s}")
    d = f"{default:.4f}" if default is not None else "-"
    echo(f"[tune] {objective:{width}s} {d:>16s} {compared:>16.4f}")
    for k in keys:
        echo(
            f"[tune] {k:{width}s} {format_value(config_value(cfg, k)):>16s} "
            f"{format_value(best['values'].get(k)):>16s}"
        )
    if default is not None:
        diff = compared - default
        echo(f"[tune] best trial - default config: {diff:+.4f} ({objective})")
