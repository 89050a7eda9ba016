"""The `tfrec` command: parse, load the config, call the stages, the shop or the server.

tfrec run CONFIG [--stages data,retrieval,evaluate]   the main job
tfrec generate [CONFIG] [--out DIR] [--num-items N]    write the synthetic shop
tfrec validate CONFIG | --items F --events F ...       report every violation
tfrec train retrieval CONFIG                           train (or resume) one stage
tfrec evaluate CONFIG                                  evaluation table, metrics, report
tfrec tune CONFIG                                      Keras Tuner search (resumes)
tfrec recommend | similar | complementary | search     the shop capabilities (tfrec.cli.shop)
tfrec serve RUN_DIR                                    TF Serving APIs + shop endpoints
tfrec bench [CONFIG]                                   benchmarks with in-run baselines

Each command imports what it runs when it runs (deferred imports: TensorFlow and the stages
load only for the command that needs them, so `tfrec --help` answers at once).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

import tfrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfrec.config import ConfigError, DataConfig, TableSource, load_config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.core.runlock import RunLock, RunLockedError

DEFAULT_CONFIG = "configs/quickstart.yaml"


def _parse_set(values: list[str]) -> dict:
    """`--set retrieval.epochs=3` -> {"retrieval.epochs": 3} (values parsed as YAML scalars)."""
    out = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. retrieval.epochs=3")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _config(args):
    return load_config(args.config, overrides=_parse_set(getattr(args, "set", [])))


def cmd_run(args) -> int:
    from tfrec.stages import run_stages  # deferred: TensorFlow loads only for the stages

    cfg = _config(args)
    stages = args.stages.split(",") if args.stages else None
    run_stages(cfg, stages)
    return 0


def cmd_generate(args) -> int:
    import pandas as pd  # deferred: fast `tfrec --help`

    from tfrec.data.synthetic.writer import generate_shop  # deferred: as above

    cfg = load_config(args.config) if args.config else None
    syn = cfg.data.synthetic if cfg else load_config(DEFAULT_CONFIG).data.synthetic
    if args.num_items:
        syn.num_items = args.num_items
    if args.num_users:
        syn.num_users = args.num_users
    if args.seed is not None:
        syn.seed = args.seed
    if args.format:
        syn.format = args.format
    out = Path(args.out or (RunDir(cfg.run_path).raw if cfg else "runs/synthetic"))
    paths = generate_shop(syn, out)
    for name, path in paths.items():
        rows = len(pd.read_parquet(path)) if path.suffix == ".parquet" else None
        echo(f"{name:10s} {path}" + (f"  ({rows} rows)" if rows is not None else ""))
    return 0


def cmd_validate(args) -> int:
    from tfrec.data.report import DataValidationError  # deferred: fast start
    from tfrec.data.sources import load_shop  # deferred: fast start

    if args.config:
        data_cfg = load_config(args.config).data
        if data_cfg.source == "synthetic":
            print(
                f"{args.config}: data.source is synthetic; generate it with `tfrec generate`",
                file=sys.stderr,
            )
            return 2
    else:
        if not (args.items and args.events):
            print("validate needs CONFIG or both --items and --events", file=sys.stderr)
            return 2
        data_cfg = DataConfig(
            source="files",
            items=TableSource(args.items),
            events=TableSource(args.events),
            judgments=TableSource(args.judgments) if args.judgments else None,
            users=TableSource(args.users) if args.users else None,
        )
    try:
        shop = load_shop(data_cfg, base_dir=Path.cwd())
    except DataValidationError as e:
        echo(f"{len(e.violations)} violation(s):")
        for v in e.violations:
            echo(f"  {v}")
        return 1
    for line in shop.report.summary_lines():
        echo(line)
    echo("valid")
    return 0


def cmd_train(args) -> int:
    from tfrec.stages import run_stages  # deferred: TensorFlow loads only for the stages

    cfg = _config(args)
    if args.cold_boost_only:
        if args.stage != "retrieval":
            print("--cold-boost-only goes with `tfrec train retrieval`", file=sys.stderr)
            return 2
        from tfrec.stages.artifacts import RunArtifacts  # deferred: as above
        from tfrec.stages.retrieval import rechoose_cold_boost  # deferred: as above

        run = RunDir(cfg.run_path)
        with RunLock(run.writer_lock):  # one writer per run directory
            rechoose_cold_boost(RunArtifacts(cfg, run))
        return 0
    run_stages(cfg, [args.stage])
    return 0


def cmd_evaluate(args) -> int:
    from tfrec.stages import run_stages  # deferred: TensorFlow loads only for the stages

    run_stages(_config(args), ["evaluate"])
    return 0


def cmd_export(args) -> int:
    from tfrec.stages import run_stages  # deferred: TensorFlow loads only for the stages

    run_stages(_config(args), ["export"])
    return 0


def cmd_index(args) -> int:
    # deferred: TensorFlow and ScaNN load only for the index command
    from tfrec.stages.artifacts import RunArtifacts
    from tfrec.stages.index import add_items, eval_index, run_index  # deferred: as above

    cfg = _config(args)
    run = RunDir(cfg.run_path)
    art = RunArtifacts(cfg, run)
    if args.action == "eval":  # reads the run: no lock
        eval_index(art)
        return 0
    if args.action == "add" and not args.items:
        print("index add needs --items FILE (new items in the data contract)", file=sys.stderr)
        return 2
    with RunLock(run.writer_lock):  # one writer per run directory
        if args.action == "build":
            run_index(art)
        else:
            add_items(art, args.items)
            if args.export:
                from tfrec.stages.export import run_export  # deferred: as above

                run_export(art)
    return 0


def cmd_serve(args) -> int:
    from tfrec.serving.ports import PortUnavailableError  # deferred: as below
    from tfrec.serving.server import serve  # deferred: TensorFlow loads only to serve

    try:
        serve(
            args.run_dir,
            host=args.host,
            port=args.port,
            grpc_port=args.grpc_port,
            api_key=args.api_key or os.environ.get("TFREC_API_KEY"),
            overrides=_parse_set(args.set),
        )
    except PortUnavailableError as e:  # one line naming the port, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_tune(args) -> int:
    from tfrec.stages import run_stages  # deferred: TensorFlow loads only for the stages

    run_stages(_config(args), ["tune"])
    return 0


def cmd_shop(args) -> int:
    from tfrec.cli.shop import run_shop_command  # deferred: it loads the run's model

    return run_shop_command(_config(args), args.command, args)


def cmd_bench(args) -> int:
    from tfrec.bench import run_benchmarks  # deferred: TensorFlow loads only for the bench

    cfg = _config(args)
    run_benchmarks(cfg, args.only.split(",") if args.only else None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tfrec",
        description="E-commerce search and recommendation on TensorFlow (TFRS, BERT, ScaNN).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp, required=True):
        if required:
            sp.add_argument("config", help="YAML config, e.g. configs/quickstart.yaml")
        sp.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set retrieval.epochs=3 (repeatable)",
        )

    sp = sub.add_parser("run", help="run the main job: data -> retrieval -> evaluation")
    with_config(sp)
    sp.add_argument("--stages", help="comma-separated subset, e.g. data,retrieval")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("generate", help="write the synthetic shop in the data contract")
    sp.add_argument("config", nargs="?", help="config whose data.synthetic section to use")
    sp.add_argument("--out", help="output directory (default: the run's data/raw)")
    sp.add_argument("--num-items", type=int)
    sp.add_argument("--num-users", type=int)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--format", choices=["parquet", "csv", "jsonl"])
    sp.set_defaults(func=cmd_generate)

    sp = sub.add_parser("validate", help="check data against the contract; print every violation")
    sp.add_argument("config", nargs="?", help="config whose data section to validate")
    sp.add_argument("--items")
    sp.add_argument("--events")
    sp.add_argument("--judgments")
    sp.add_argument("--users")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("train", help="train one model stage (resumes a killed run)")
    sp.add_argument("stage", choices=["retrieval", "ranking"])
    with_config(sp)
    sp.add_argument(
        "--cold-boost-only",
        action="store_true",
        help="retrieval: choose the trained model's cold boost on validation again (or set "
        "it: --set retrieval.cold_boost=X) without training",
    )
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="evaluate a trained run against its baselines")
    with_config(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("export", help="export TF Serving SavedModels into the run's export/")
    with_config(sp)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("index", help="build, extend (cold start) or evaluate the item index")
    sp.add_argument("action", choices=["build", "add", "eval"])
    with_config(sp)
    sp.add_argument("--items", help="with add: new items (CSV, Parquet or JSON Lines)")
    sp.add_argument("--export", action="store_true", help="with add: export a new version")
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser(
        "serve",
        help="serve a run's exports (TF Serving REST + gRPC; /recommend, /search, /similar, "
        "/complementary, /bundle, POST /v1/items)",
    )
    sp.add_argument("run_dir", help="a run directory with export/, e.g. runs/quickstart")
    sp.add_argument("--host", help="bind address (default: the run's serving.host, 127.0.0.1)")
    sp.add_argument(
        "--port", type=int, help="REST port (default: serving.port, 8501 as TF Serving)"
    )
    sp.add_argument(
        "--grpc-port", type=int, help="gRPC port (default: serving.grpc_port, 8500 as TF Serving)"
    )
    sp.add_argument("--api-key", help="require X-API-Key (default: $TFREC_API_KEY, else none)")
    sp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a serving.* value of the run's config.yaml, e.g. "
        "--set serving.batching.batch_timeout_micros=2000 (repeatable)",
    )
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser(
        "tune", help="hyperparameter search (Keras Tuner) over the config's tuning section"
    )
    with_config(sp)
    sp.set_defaults(func=cmd_tune)

    sp = sub.add_parser("recommend", help="home feed of a user (+ session) from a trained run")
    with_config(sp)
    sp.add_argument("--user-id", help="user id (unknown or none: session or popularity feed)")
    sp.add_argument("--session-items", help="comma-separated item ids of the current session")
    sp.add_argument("--session-queries", help="comma-separated searches of the current session")
    sp.add_argument(
        "--mmr-lambda", type=float, help="MMR relevance weight (default: shop.mmr_lambda)"
    )
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--json", action="store_true", help="print the structured result")
    sp.set_defaults(func=cmd_shop)

    sp = sub.add_parser("similar", help="similar items with each dimension's contribution")
    with_config(sp)
    sp.add_argument("item_id")
    sp.add_argument(
        "--weights", help="e.g. semantic=1,behavioural=0 (default: shop.similar_weights)"
    )
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--json", action="store_true", help="print the structured result")
    sp.set_defaults(func=cmd_shop)

    sp = sub.add_parser("complementary", help="frequently bought together and a bundle")
    with_config(sp)
    sp.add_argument("item_id")
    sp.add_argument("--cart", help="comma-separated item ids already in the cart")
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--json", action="store_true", help="print the structured result")
    sp.set_defaults(func=cmd_shop)

    sp = sub.add_parser("search", help="search the catalog of a trained run, with explanations")
    with_config(sp)
    sp.add_argument("query")
    sp.add_argument("--user-id")
    sp.add_argument("--session-items", help="comma-separated item ids of the current session")
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument(
        "--retriever",
        choices=("dense", "hybrid"),
        help="dense (two-tower) or hybrid (BM25 + dense, rank fusion); default shop.retriever",
    )
    sp.add_argument("--json", action="store_true", help="print the structured result")
    sp.set_defaults(func=cmd_shop)

    sp = sub.add_parser("bench", help="benchmarks, printed as ratios against in-run baselines")
    sp.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    with_config(sp, required=False)
    sp.add_argument(
        "--only",
        help="comma-separated subset of: training,encoding,synthetic,ranking,serving,index,"
        "relevance,finetune (default: all but relevance and finetune). relevance trains and "
        "evaluates each dataset "
        "(demo, hard_search, ratings_nosession, online_retail) into runs/bench_relevance/ and "
        "prints every model and baseline side by side; TFREC_BENCH_RELEVANCE=demo,hard_search "
        "picks datasets, TFREC_BENCH_RELEVANCE_RETRAIN=1 reruns runs kept from the same config; "
        "finetune trains the config frozen and top_k_layers into runs/bench_finetune/ and "
        "compares their search relevance, paired",
    )
    sp.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except RunLockedError as e:  # another process writes this run directory
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        # errors about the user's data or checkpoint carry their own message; set
        # TFREC_DEBUG=1 for the traceback
        if os.environ.get("TFREC_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
