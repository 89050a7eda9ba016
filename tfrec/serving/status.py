"""Read-only views of what a server serves, for people (the web UI, `tfrec.serving.ui`) and
scripts:

    GET /status                 served versions (state, index size and parameters), the shop
                                model, its item and user counts, a few users to try, the shop
                                defaults, and the run's last evaluation figures (metrics.json)
    GET /history?user_id=&k=    a user's most recent items (most recent first), as the feed and
                                search endpoints see them (the query tower's history input)

Both answer from the served version's shop context; parameters are validated like the product
endpoints' (a bad one is a 400 naming it, unknown parameters are refused).
"""

from __future__ import annotations

import json
import time

from tfrec.core.rundir import RunDir
from tfrec.serving.models import ServingError
from tfrec.serving.query_params import param_int, param_text

VIEWS = {"status": frozenset(), "history": frozenset({"user_id", "k"})}
# what /status shows of a version's assets.extra/tfrec.json
INFO_KEYS = ("num_items", "embedding_dim", "max_k", "index", "created", "text_checkpoint")
SAMPLE_USERS = 12  # users with the longest histories, offered by the UI's user picker


def serving_view(app, name: str, qs: dict) -> dict:
    """Answer `GET /status` or `GET /history` of a running server.

    Args:
        app: the `tfrec.serving.server.ServingApp` (its manager, pipeline and run directory).
        name: str. `status` or `history`.
        qs: dict of str to str. The query parameters (one value each).

    Returns:
        dict. The JSON answer.

    Example:
        >>> serving_view(app, "history", {"user_id": "U001455", "k": "5"})["items"][0]  # doctest: +SKIP
        {'item_id': 'P000068', 'title': 'Bluecrest Adjustable Dumbbells, ...', ...}
    """
    if name not in VIEWS:
        raise ServingError(f"unknown view /{name}", 404, "NOT_FOUND")
    unknown = sorted(set(qs) - VIEWS[name])
    if unknown:
        accepted = ", ".join(sorted(VIEWS[name])) or "none"
        raise ServingError(f"unknown parameter {unknown[0]!r} for /{name}; accepted: {accepted}")
    return run_status(app) if name == "status" else user_history(app.pipeline, qs)


def user_history(pipeline, qs: dict) -> dict:
    """`/history`: the user's last `k` distinct items, most recent first; an unknown user has
    none (never an error, as for /recommend).

    Args:
        pipeline: the server's `ProductPipeline` (its served version's shop context).
        qs: dict. `user_id` (required) and `k` (1..max_k, default 10).

    Example:
        >>> user_history(app.pipeline, {"user_id": "ghost"})["items"]  # doctest: +SKIP
        []
    """
    user_id = param_text(qs, "user_id")
    if not user_id:
        raise ServingError("/history needs user_id=<id>")
    k = param_int(qs, "k", 10, 1, pipeline.max_k)
    version, ctx = pipeline.current()
    rows = ctx.user_histories.get(user_id)
    recent = [] if rows is None else [int(i) for i in rows[::-1][:k]]
    return {
        "endpoint": "history",
        "model": {"name": version.name, "version": version.version},
        "user_id": user_id,
        "user_known": rows is not None,
        "items": [{"rank": r, **ctx.item_summary(i)} for r, i in enumerate(recent, start=1)],
    }


def run_status(app) -> dict:
    """`/status`: every model's version states (refused versions with their error), what the
    served versions hold, the shop model and defaults, and metrics.json as it is now. No path
    of the server's disk is in it (`app.redact`).

    Args:
        app: the `ServingApp`.

    Example:
        >>> run_status(app)["shop"]["model"]  # doctest: +SKIP
        {'name': 'tfrec_scann', 'version': 3}
    """
    manager, pipeline = app.manager, app.pipeline
    redact = app.redact  # no on-disk path of the server in what a client reads
    models = []
    for name in _model_names(manager):
        try:
            entry = {"name": name, "versions": manager.status(name)}
        except ServingError:  # a folder with no version seen yet
            continue
        for state in entry["versions"]:  # a refused version's error names its directory
            state["status"]["error_message"] = redact(state["status"]["error_message"])
        if name in manager.model_names():
            version = manager.get(name)
            entry["served"] = version.version
            entry["signatures"] = sorted(version.signature_defs)
            info = {k: version.info[k] for k in INFO_KEYS if k in version.info}
            if "text_checkpoint" in info:
                info["text_checkpoint"] = redact(str(info["text_checkpoint"]))
            entry["info"] = info
        models.append(entry)
    shop = None
    try:
        version, ctx = pipeline.current()
    except ServingError:
        version = ctx = None
    if ctx is not None:
        users = sorted(ctx.user_histories, key=lambda u: (-len(ctx.user_histories[u]), u))
        ranker = pipeline.ranker()
        s = pipeline.cfg.shop
        shop = {
            "model": {"name": version.name, "version": version.version},
            "ranker": None if ranker is None else {"model": ranker.name, "version": ranker.version},
            "num_items": ctx.num_items - 1,
            "num_users": len(ctx.user_histories),
            "sample_users": users[:SAMPLE_USERS],
            "max_k": pipeline.max_k,
            "defaults": {
                "mmr_lambda": s.mmr_lambda,
                "retriever": s.retriever,
                "hybrid_weight": s.hybrid_weight,
                "similar_weights": dict(s.similar_weights),
                "bundle_size": s.bundle_size,
            },
        }
    return {
        "endpoint": "status",
        "run": app.run_dir.name,
        "models": models,
        "shop": shop,
        "evaluation": _evaluation(RunDir(app.run_dir)),
    }


def _model_names(manager) -> list[str]:
    """The served models and the export's model folders (a model whose every version was
    refused is served by none but still has a status)."""
    export = manager.export_dir
    folders = [d.name for d in export.iterdir() if d.is_dir()] if export.is_dir() else []
    return sorted({*manager.model_names(), *(f for f in folders if not f.startswith("."))})


def _evaluation(run: RunDir) -> dict | None:
    """metrics.json (written by the evaluate, ranking and shop stages) and when it was
    written; None when the run has not been evaluated."""
    path = run.metrics
    try:
        figures = json.loads(path.read_text())
        written = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # being written now: say so rather than fail /status
        return {"file": path.name, "error": f"not readable now ({type(e).__name__})"}
    return {
        "file": path.name,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(written)),
        "figures": figures,
    }
