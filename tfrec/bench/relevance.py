"""`tfrec bench --only relevance`: retrieval quality of every model and baseline on shops shaped
differently, side by side, so a figure on the demo shop is read next to shops that do not share
the model's assumptions.

For each dataset (a config file), the stages data, retrieval and evaluate run into
`runs/bench_relevance/<name>` (a copy of the config whose `run_dir` is that and whose stages are
those three), then one table prints Recall@100 and NDCG@10 of every scorer the `retrieval`
section of each run's metrics.json holds (popularity, bm25, zero_shot, trained and any other),
per task (search, feed) and slice (all, cold, unseen), plus `trained - zero_shot`.

Datasets (`RELEVANCE_DATASETS`): `demo` (configs/quickstart.yaml), `hard_search`
(configs/hard_search.yaml: 20,000 items, most never clicked, queries in other words than the
titles), `ratings_nosession` (configs/ratings_nosession.yaml: a ratings-like log without
sessions, queries or impressions) and `online_retail` (configs/online_retail.yaml; skipped with a
message when ../shared/data/online_retail is absent).

Environment:
- `TFREC_BENCH_RELEVANCE=demo,hard_search` runs only those datasets (default: all four);
- `TFREC_BENCH_RELEVANCE_RETRAIN=1` (or a list of names) runs them again even when the run
  directory already holds metrics.json from the same config (otherwise it is reused, and says so).
  "The same config" means the same values in the sections these stages read
  (`FINGERPRINT_KEYS`: name, run_dir, seed, data, text, retrieval, training, evaluation, shop),
  recorded in the run's bench.json; a change elsewhere (ranking, export ...) keeps the reuse, and
  a changed value is named when it voids it. Code changes are not seen: retrain after them;
- `TFREC_BENCH_RELEVANCE_ROOT` changes `runs/bench_relevance`.

Example:
    >>> from tfrec.bench.relevance import relevance_benchmark
    >>> demo = load_config("configs/quickstart.yaml")
    >>> out = relevance_benchmark({"demo": demo})  # doctest: +SKIP
    >>> out["datasets"]["demo"]["status"]  # doctest: +SKIP
    'ran'
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path

import pandas as pd

from tfrec.config import Config, config_to_dict, load_config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.stages import run_stages

# dataset name -> its config file (relative to the project root, where tfrec runs)
RELEVANCE_DATASETS = {
    "demo": "configs/quickstart.yaml",
    "hard_search": "configs/hard_search.yaml",
    "ratings_nosession": "configs/ratings_nosession.yaml",
    "online_retail": "configs/online_retail.yaml",
}
RELEVANCE_STAGES = ["data", "retrieval", "evaluate"]
DEFAULT_ROOT = "runs/bench_relevance"
# the first scorers of the table, in this order; any other scorer follows in the order found
MODEL_ORDER = ("popularity", "bm25", "zero_shot", "trained")
TASKS = ("search", "feed")
SLICES = ("all", "cold", "unseen")


def selected_datasets(value: str | None) -> list[str]:
    """The dataset names of `TFREC_BENCH_RELEVANCE` (all of `RELEVANCE_DATASETS` when unset).

    Args:
        value: str | None. Comma-separated names, e.g. "demo,hard_search".

    Returns:
        list[str]: the names, in the order given.

    Raises:
        ValueError: a name that is not a dataset (the message lists the known ones).

    Example:
        >>> selected_datasets("hard_search, demo")
        ['hard_search', 'demo']
    """
    if not value or not value.strip():
        return list(RELEVANCE_DATASETS)
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in RELEVANCE_DATASETS]
    if unknown:
        raise ValueError(
            f"TFREC_BENCH_RELEVANCE names unknown dataset(s) {unknown}; "
            f"known: {', '.join(RELEVANCE_DATASETS)}"
        )
    return names


def missing_inputs(cfg: Config, base_dir: Path | None = None) -> list[str]:
    """The input files a config reads that do not exist (nothing for a synthetic shop).

    Args:
        cfg: Config. The dataset's config.
        base_dir: Path | None. What relative paths are relative to (default: the current
            directory, as the data stage resolves them).

    Returns:
        list[str]: the missing paths.

    Example:
        >>> missing_inputs(load_config("configs/quickstart.yaml"))
        []
    """
    base = Path.cwd() if base_dir is None else base_dir
    d = cfg.data
    if d.source == "transactions":
        sources = [d.transactions]
    elif d.source == "files":
        sources = [d.items, d.events, d.judgments, d.users]
    else:
        sources = []
    paths = [Path(s.path).expanduser() for s in sources if s is not None]
    return [str(p) for p in paths if not (p if p.is_absolute() else base / p).exists()]


# the config sections the stages data, retrieval and evaluate read; the others (ranking,
# export, index, serving, tuning) cannot change their figures, so they do not void a reuse
FINGERPRINT_KEYS = (
    "name",
    "run_dir",
    "seed",
    "data",
    "text",
    "retrieval",
    "training",
    "evaluation",
    "shop",
)


def fingerprint_values(cfg: Config) -> dict:
    """The config values the relevance stages depend on (`FINGERPRINT_KEYS`), as plain data."""
    values = config_to_dict(cfg)
    return json.loads(
        json.dumps({k: values.get(k) for k in FINGERPRINT_KEYS}, sort_keys=True, default=str)
    )


def config_fingerprint(cfg: Config) -> str:
    """sha256 of `fingerprint_values(cfg)`.

    Example:
        >>> config_fingerprint(Config()) == config_fingerprint(Config())
        True
    """
    text = json.dumps(fingerprint_values(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(values: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(values, dict) or not values:
        return {prefix.rstrip("."): values}
    out: dict[str, object] = {}
    for k, v in values.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _default_values() -> dict:
    """The fingerprinted sections of a default config (what a key added later defaults to)."""
    return fingerprint_values(Config())


def config_changes(old: dict, new: dict, limit: int = 5, defaults: dict | None = None) -> list[str]:
    """`key: old -> new` for the dotted keys whose values differ (at most `limit`). With
    `defaults`, a key absent from `old` (added to the config since) whose new value is its
    default is not a change: the old run ran as that default does.

    Example:
        >>> config_changes({"retrieval": {"epochs": 3}}, {"retrieval": {"epochs": 5}})
        ['retrieval.epochs: 3 -> 5']
        >>> config_changes({}, {"text": {"layer_cache": True}}, defaults={"text": {"layer_cache": True}})
        []
    """
    a, b = _flat(old), _flat(new)
    base = _flat(defaults) if defaults is not None else {}
    keys = sorted(
        k
        for k in set(a) | set(b)
        if a.get(k, "<absent>") != b.get(k, "<absent>")
        and not (k not in a and k in base and base[k] == b.get(k))
    )
    return [f"{k}: {a.get(k, '<absent>')} -> {b.get(k, '<absent>')}" for k in keys[:limit]]


def bench_config(cfg: Config, run_dir: Path) -> Config:
    """A copy of `cfg` that writes into `run_dir` and runs the stages data, retrieval, evaluate."""
    out = copy.deepcopy(cfg)
    out.run_dir = str(run_dir)
    out.stages = list(RELEVANCE_STAGES)
    return out


def _reusable(name: str, cfg: Config, run: RunDir) -> dict | None:
    """The recorded relevance run when metrics.json is there from the same config (else None,
    saying which config values changed when that is why)."""
    if not (run.metrics.exists() and run.bench.exists()):
        return None
    try:
        record = json.loads(run.bench.read_text()).get("relevance") or {}
        metrics = json.loads(run.metrics.read_text())
    except (OSError, ValueError):
        return None
    if "retrieval" not in metrics:
        return None
    if record.get("config_sha256") != config_fingerprint(cfg):
        changes = config_changes(
            record.get("config") or {}, fingerprint_values(cfg), defaults=_default_values()
        )
        if not changes:  # only keys added since, at their defaults: the same run
            return record
        echo(
            f"[bench] relevance: {name}: the config changed since {run.metrics} was written "
            f"({'; '.join(changes) or 'unknown change'}): running it again"
        )
        return None
    return record


def _record(cfg: Config, run: RunDir, seconds: float) -> dict:
    """Note in the run's bench.json which config produced its metrics.json, and how fast."""
    record = {
        "config_sha256": config_fingerprint(cfg),
        "config": fingerprint_values(cfg),
        "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    old = {}
    if run.bench.exists():
        try:
            old = json.loads(run.bench.read_text())
        except ValueError:
            old = {}
    run.bench.write_text(json.dumps({**old, "relevance": record}, indent=2))
    return record


def run_dataset(name: str, cfg: Config, root: Path, retrain: bool) -> dict:
    """Run (or reuse) one dataset's data, retrieval and evaluate stages under `root/name`.

    Args:
        name: str. The dataset's name (its folder under `root`).
        cfg: Config. Its config (run_dir and stages are replaced).
        root: Path. The bench's run folder.
        retrain: bool. Run the stages even when metrics.json from the same config is there.

    Returns:
        {"status": "ran" | "reused" | "skipped", "run_dir", "seconds", "retrieval" (the
        metrics.json section), "message"}.

    Example:
        >>> cfg = load_config("configs/quickstart.yaml")
        >>> r = run_dataset("demo", cfg, Path("runs/b"), retrain=False)  # doctest: +SKIP
    """
    bcfg = bench_config(cfg, root / name)
    run = RunDir(bcfg.run_path)
    out: dict = {"run_dir": str(run.root), "retrieval": {}}
    missing = missing_inputs(bcfg)
    if missing:
        msg = f"{name}: skipped, input not found: {', '.join(missing)}"
        echo(f"[bench] relevance: {msg}")
        return {**out, "status": "skipped", "seconds": 0.0, "message": msg}
    record = None if retrain else _reusable(name, bcfg, run)
    if record is not None:
        msg = (
            f"{name}: reused {run.metrics} (same config, finished {record.get('finished')}, "
            f"took {record.get('seconds')} s; TFREC_BENCH_RELEVANCE_RETRAIN={name} reruns it)"
        )
        echo(f"[bench] relevance: {msg}")
        status, seconds = "reused", float(record.get("seconds", 0.0))
    else:
        echo(f"[bench] relevance: {name}: stages {', '.join(RELEVANCE_STAGES)} -> {run.root}")
        if run.metrics.exists():
            run.metrics.unlink()  # a stale figure must not survive a failed rerun
        t0 = time.time()
        run_stages(bcfg, list(RELEVANCE_STAGES))
        seconds = time.time() - t0
        _record(bcfg, run, seconds)
        status = "ran"
        msg = f"{name}: ran in {seconds:.0f} s"
        echo(f"[bench] relevance: {msg}")
    metrics = json.loads(run.metrics.read_text())
    return {
        **out,
        "status": status,
        "seconds": round(seconds, 1),
        "message": msg,
        "retrieval": metrics.get("retrieval", {}),
    }


def task_sections(retrieval: dict) -> dict[str, dict]:
    """The per-task parts of a metrics.json `retrieval` section (the entries with `slices`;
    anything else the evaluation adds there, such as comparison lists, is left out)."""
    return {k: v for k, v in retrieval.items() if isinstance(v, dict) and "slices" in v}


def _metric_keys(sections: list[dict]) -> tuple[str, str]:
    """(recall key, ndcg key): recall@100 and ndcg@10, else the largest / smallest K present."""
    keys: set[str] = set()
    for sec in sections:
        for sl in sec.get("slices", {}).values():
            for m in sl.values():
                keys |= set(m)
    recalls = sorted(int(k.split("@")[1]) for k in keys if k.startswith("recall@"))
    ndcgs = sorted(int(k.split("@")[1]) for k in keys if k.startswith("ndcg@"))
    r = 100 if 100 in recalls else (recalls[-1] if recalls else 100)
    n = 10 if 10 in ndcgs else (ndcgs[0] if ndcgs else 10)
    return f"recall@{r}", f"ndcg@{n}"


def relevance_table(retrieval: dict[str, dict]) -> pd.DataFrame:
    """One row per (task, slice, model) and two columns per dataset (Recall@100, NDCG@10), plus
    a `trained - zero_shot` row per task and slice where both are there.

    Args:
        retrieval: dict[str, dict]. Dataset name -> the `retrieval` section of its
            metrics.json (`{task: {"instances", "slices": {slice: {model: {metric: value}}}}}`).

    Returns:
        pd.DataFrame indexed by (task, slice, model), columns (dataset, metric); missing
        figures are NaN.

    Example:
        >>> m = {"recall@100": 0.5, "ndcg@10": 0.2}
        >>> t = relevance_table({"demo": {"feed": {"slices": {"all": {"trained": m}}}}})
        >>> float(t.loc[("feed", "all", "trained"), ("demo", "R@100")])
        0.5
    """
    retrieval = {ds: task_sections(sections) for ds, sections in retrieval.items()}
    rkey, nkey = _metric_keys([sec for ds in retrieval.values() for sec in ds.values()])
    rlabel, nlabel = "R@" + rkey.split("@")[1], "NDCG@" + nkey.split("@")[1]
    cells: dict[tuple[str, str, str], dict[tuple[str, str], float]] = {}
    models: list[str] = []
    for ds, sections in retrieval.items():
        for task, sec in sections.items():
            for sl, by_model in sec.get("slices", {}).items():
                for model, m in by_model.items():
                    if model not in models:
                        models.append(model)
                    row = cells.setdefault((task, sl, model), {})
                    row[(ds, rlabel)] = m.get(rkey, float("nan"))
                    row[(ds, nlabel)] = m.get(nkey, float("nan"))
                if "trained" in by_model and "zero_shot" in by_model:
                    row = cells.setdefault((task, sl, "trained - zero_shot"), {})
                    for key, label in ((rkey, rlabel), (nkey, nlabel)):
                        a, b = by_model["trained"].get(key), by_model["zero_shot"].get(key)
                        if a is not None and b is not None:
                            row[(ds, label)] = a - b
    order = [m for m in MODEL_ORDER if m in models] + [m for m in models if m not in MODEL_ORDER]
    order.append("trained - zero_shot")
    tasks = list(TASKS) + sorted({t for t, _, _ in cells} - set(TASKS))
    slices = list(SLICES) + sorted({s for _, s, _ in cells} - set(SLICES))
    index = [(t, s, m) for t in tasks for s in slices for m in order if (t, s, m) in cells]
    columns = pd.MultiIndex.from_tuples(
        [(ds, label) for ds in retrieval for label in (rlabel, nlabel)], names=["dataset", ""]
    )
    frame = pd.DataFrame(
        [[cells[i].get(c, float("nan")) for c in columns] for i in index],
        index=pd.MultiIndex.from_tuples(index, names=["task", "slice", "model"]),
        columns=columns,
    )
    return frame


def _retrain_set(value: str | None, names: list[str]) -> set[str]:
    if not value or value.strip().lower() in ("0", "false", "no", ""):
        return set()
    if value.strip().lower() in ("1", "true", "yes", "all"):
        return set(names)
    return {n.strip() for n in value.split(",") if n.strip()}


def relevance_benchmark(
    datasets: dict[str, Config],
    root: str | Path = DEFAULT_ROOT,
    retrain: set[str] | None = None,
) -> dict:
    """Run each dataset (or reuse its run) and print the side-by-side table.

    Args:
        datasets: dict[str, Config]. Name -> config, in the order of the table's columns.
        root: str | Path. Where the runs go (`<root>/<name>`). Defaults to runs/bench_relevance.
        retrain: set[str] | None. Names to run again even if their metrics are reusable.

    Returns:
        {"datasets": {name: run_dataset result}, "table": [{task, slice, model, dataset,
        metric, value}, ...]}.

    Raises:
        RuntimeError: after the table, naming the datasets whose stages failed.

    Example:
        >>> demo = load_config("configs/quickstart.yaml")
    >>> out = relevance_benchmark({"demo": demo})  # doctest: +SKIP
    """
    root = Path(root)
    retrain = retrain or set()
    results: dict[str, dict] = {}
    failed: dict[str, str] = {}
    for name, cfg in datasets.items():
        try:
            results[name] = run_dataset(name, cfg, root, name in retrain)
        except Exception as err:  # one broken dataset must not hide the others' figures
            failed[name] = f"{type(err).__name__}: {err}"
            echo(f"[bench] relevance: {name}: FAILED {failed[name]}")
            results[name] = {"status": "failed", "message": failed[name], "retrieval": {}}
    shown = {n: r["retrieval"] for n, r in results.items() if r["retrieval"]}
    table = relevance_table(shown) if shown else pd.DataFrame()
    echo("[bench] relevance: test split, whole catalog of each dataset")
    for name, r in results.items():
        counts = ", ".join(
            f"{task} {sec.get('instances', 0)}"
            for task, sec in task_sections(r["retrieval"]).items()
        )
        echo(
            f"[bench]   {name}: {r['status']} ({r.get('seconds', 0)} s)"
            + (f"; test instances: {counts}" if counts else "")
        )
    if not table.empty:
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            echo(table.to_string(float_format="{:.4f}".format, na_rep="-"))
    if failed:
        raise RuntimeError(f"relevance bench: failed datasets: {failed}")
    flat = (
        [
            {"task": t, "slice": s, "model": m, "dataset": ds, "metric": metric, "value": float(v)}
            for (t, s, m), row in table.iterrows()
            for (ds, metric), v in row.items()
            if pd.notna(v)
        ]
        if not table.empty
        else []
    )
    return {"datasets": results, "table": flat}


def bench_relevance_section(cfg: Config) -> dict:
    """The `relevance` bench section: the datasets of `TFREC_BENCH_RELEVANCE` from their preset
    config files (`cfg` is not used: every dataset brings its own)."""
    names = selected_datasets(os.environ.get("TFREC_BENCH_RELEVANCE"))
    retrain = _retrain_set(os.environ.get("TFREC_BENCH_RELEVANCE_RETRAIN"), names)
    root = os.environ.get("TFREC_BENCH_RELEVANCE_ROOT", DEFAULT_ROOT)
    return relevance_benchmark(
        {n: load_config(RELEVANCE_DATASETS[n]) for n in names}, root=root, retrain=retrain
    )
