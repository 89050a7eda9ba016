"""Retrieve -> rank -> rules: with a ranker served, /search and /recommend re-rank the retrieved
candidates in the ranker's serving-score order (the same order as the in-process ranker), name
the ranker and give each item p_click / p_purchase; without one they answer as before."""

import dataclasses
import shutil
import threading

import numpy as np
import pytest
from serving_client import as_json, get, http

from tfrec.config import BatchingConfig
from tfrec.core.rundir import RunDir
from tfrec.serving.server import ServingApp
from tfrec.shop import home_feed, search

HOUR = 7


@pytest.fixture(scope="module")
def ranked_app(exported_run, tmp_path_factory):
    """The tiny run copied, with a tiny trained ranker exported into it, served."""
    from tiny_run import make_tiny_ranker

    from tfrec.export.ranker import export_ranker

    cfg, run, data, model, index = exported_run
    root = tmp_path_factory.mktemp("ranked") / "run"
    shutil.copytree(run.root, root)
    copy = RunDir(root)
    ranker = make_tiny_ranker(cfg, copy, data, model)
    assert export_ranker(cfg, copy, model, data, index) == root / "export" / "tfrec_ranker" / "1"
    # batching on: the queues' counts show which signature served (and that calls grouped)
    serving = dataclasses.replace(cfg.serving, batching=BatchingConfig(enabled=True))
    server = ServingApp(root, port=0, grpc_port=0, config=serving, run_config=cfg)
    server.start()
    server.pipeline.hour_of_day = lambda: HOUR
    yield server, ranker
    server.stop()


def in_process_order(exported_run, ranker, ctx, candidates, query, user_id, session=()):
    """The candidates ordered by the in-process ranker's serving scores."""
    from tfrec.data.ranking_examples import ranking_queries
    from tfrec.export.ranker import reference_ranker_scores
    from tfrec.models.ranking_features import RankingFeatureBuilder

    cfg, _, data, model, _ = exported_run
    history = [int(i) for i in ctx.user_histories.get(user_id or "", [])]
    rows, _ = ctx.known_items(session)
    recent = [ctx.item_ids[i] for i in [*history, *rows][-ctx.max_history :]] or [""]
    m = len(candidates)
    request = {
        "query": np.array([query] * m, object),
        "user_id": np.array([user_id or ""] * m, object),
        "recent_item_ids": np.array([recent] * m, object),
        "item_id": np.array(candidates, object),
        "hour": np.full(m, HOUR, np.int64),
    }
    builder = RankingFeatureBuilder(data, model, ranking_queries(data))
    want = reference_ranker_scores(builder, model, ranker, request, cfg.retrieval.temperature)
    order = np.argsort(-want["serving_score"], kind="stable")
    return [candidates[i] for i in order], want["serving_score"][order]


def test_search_ranked_order_equals_in_process_ranking(ranked_app, exported_run):
    app, ranker = ranked_app
    status, body = get(app, "search", q="mug", user_id="u1", k=5, mmr_lambda=1)
    assert status == 200, body
    assert body["ranker"] == {"model": "tfrec_ranker", "version": 1}
    _, ctx = app.pipeline.current()
    pool = search(ctx, "mug", "u1", k=app.pipeline.rank_candidates)
    cands = [it["item_id"] for it in pool["items"]]
    assert body["ranked_candidates"] == len(cands)
    want_ids, want_scores = in_process_order(exported_run, ranker, ctx, cands, "mug", "u1")
    assert [it["item_id"] for it in body["items"]] == want_ids[:5]
    assert want_ids != cands  # the ranker changed the retrieval order
    np.testing.assert_allclose([it["score"] for it in body["items"]], want_scores[:5], atol=1e-3)
    for it in body["items"]:
        assert 0 < it["p_purchase"] <= it["p_click"] < 1
        assert {"retrieval_score", "ranker_score"} <= set(it)
    assert [it["rank"] for it in body["items"]] == [1, 2, 3, 4, 5]


def test_recommend_ranked_order_equals_in_process_ranking(ranked_app, exported_run):
    app, ranker = ranked_app
    _, ctx = app.pipeline.current()
    user = next(iter(ctx.user_histories))
    status, body = get(app, "recommend", user_id=user, session_items="i1", k=4, mmr_lambda=1)
    assert status == 200, body
    assert body["ranker"] == {"model": "tfrec_ranker", "version": 1}
    pool = home_feed(ctx, user, session_items=["i1"], k=app.pipeline.rank_candidates)
    cands = [it["item_id"] for it in pool["items"]]
    want_ids, _ = in_process_order(exported_run, ranker, ctx, cands, "", user, ["i1"])
    assert [it["item_id"] for it in body["items"]] == want_ids[:4]


def test_rules_apply_after_ranking(ranked_app):
    app, _ = ranked_app
    # MMR on the ranked candidates: k items, all distinct; category filter keeps the prefix
    status, body = get(app, "search", q="mug", k=4, mmr_lambda=0.3)
    assert status == 200 and len({it["item_id"] for it in body["items"]}) == 4
    category = body["items"][0]["category"].split(" > ")[0]
    status, body = get(app, "search", q="mug", k=3, category=category)
    assert status == 200 and body["ranker"] is not None
    assert all(it["category"].startswith(category) for it in body["items"])
    # the ranker's REST predict: optional inputs (user_id, recent_item_ids, position) filled
    status, out = http(
        app,
        "POST",
        "/v1/models/tfrec_ranker:predict",
        {"inputs": {"query": ["mug", "mug"], "item_id": ["i1", "i2"], "hour": [9, 9]}},
    )
    assert status == 200, out
    assert len(out["outputs"]["serving_score"]) == 2 and "p_click" in out["outputs"]


def test_without_a_ranker_the_endpoints_are_unchanged(app):
    _, ctx = app.pipeline.current()
    status, body = get(app, "search", q="mug", user_id="u1", k=5, mmr_lambda=1)
    assert status == 200 and body["ranker"] is None
    want = as_json(search(ctx, "mug", "u1", [], k=5))
    assert body["items"] == want["items"]
    status, body = get(app, "recommend", user_id="u1", k=3, mmr_lambda=1)
    assert status == 200 and body["ranker"] is None and "p_click" not in body["items"][0]
    status, body = get(app, "similar", item_id="i1", k=3)
    assert status == 200 and "ranker" not in body


def test_ranker_false_skips_the_served_ranker(ranked_app):
    app, _ = ranked_app
    _, ctx = app.pipeline.current()
    user = next(iter(ctx.user_histories))
    status, body = get(app, "search", q="mug", user_id="u1", k=5, mmr_lambda=1, ranker="false")
    assert status == 200 and body["ranker"] is None
    assert body["items"] == as_json(search(ctx, "mug", "u1", [], k=5))["items"]
    status, body = get(app, "recommend", user_id=user, k=4, mmr_lambda=1, ranker="off")
    assert status == 200 and body["ranker"] is None
    assert body["items"] == as_json(home_feed(ctx, user, k=4))["items"]
    status, body = get(app, "search", q="mug", k=3, ranker="true")
    assert status == 200 and body["ranker"] == {"model": "tfrec_ranker", "version": 1}
    status, body = get(app, "search", q="mug", ranker="sometimes")
    assert status == 400 and body["error"] == (
        "ranker must be true or false; got ranker='sometimes'"
    )


def test_concurrent_searches_batched_answer_as_each_alone(ranked_app):
    """`serving.batching`: concurrent /search requests (different queries and users) share
    batched calls of the query encoder and the ranker, and each gets what it gets alone."""
    app, _ = ranked_app
    _, ctx = app.pipeline.current()
    users = ["", "u1", next(iter(ctx.user_histories))]
    requests = [dict(q=q, user_id=u, k=5) for q in ("mug", "blue lamp", "tent") for u in users]
    alone = [get(app, "search", **r) for r in requests]
    queues = [
        app.manager.get("tfrec_ranker").batch_queues["ranker_embedded"],
        app.pipeline.current()[0].batch_queues["query_encoder"],
    ]
    ctx.query_encoder._recent.clear()  # the embeddings of the requests above are cached
    before = [(q.batches, q.requests) for q in queues]
    for q in queues:
        q.timeout = 0.3  # the requests of this test meet in one batch
    try:
        results = [None] * len(requests)

        def one(i):
            results[i] = get(app, "search", **requests[i])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for q in queues:
            q.timeout = 0.0
    for (status, body), (_, want) in zip(results, alone, strict=True):
        assert status == 200, body
        assert [it["item_id"] for it in body["items"]] == [it["item_id"] for it in want["items"]]
        np.testing.assert_allclose(
            [it["score"] for it in body["items"]], [it["score"] for it in want["items"]], atol=1e-4
        )
    for q, (batches, served) in zip(queues, before, strict=True):
        # fewer calls than requests: some were grouped
        assert q.requests - served == len(requests) and q.batches - batches < len(requests)


def test_ranker_reuses_the_query_embedding_only_from_the_same_query_tower(ranked_app):
    """`ranker_embedded` takes the embedding /search computed when the ranker export and the
    served retrieval export share a `query_fingerprint`; otherwise the ranker encodes the query
    itself (`ranker`), with the same result."""
    app, _ = ranked_app
    ranker = app.manager.get("tfrec_ranker")
    version, _ = app.pipeline.current()
    assert ranker.info["query_fingerprint"] == version.info["query_fingerprint"]
    queues = ranker.batch_queues
    before = {name: queues[name].requests for name in ("ranker", "ranker_embedded")}
    _, reused = get(app, "search", q="blue mug", user_id="u1", k=5)
    assert queues["ranker_embedded"].requests == before["ranker_embedded"] + 1
    fingerprint = ranker.info["query_fingerprint"]
    ranker.info["query_fingerprint"] = "another model"
    try:
        _, encoded = get(app, "search", q="blue mug", user_id="u1", k=5)
    finally:
        ranker.info["query_fingerprint"] = fingerprint
    assert queues["ranker"].requests == before["ranker"] + 1
    assert [it["item_id"] for it in encoded["items"]] == [it["item_id"] for it in reused["items"]]
    np.testing.assert_allclose(
        [it["score"] for it in encoded["items"]], [it["score"] for it in reused["items"]], atol=1e-4
    )


def test_a_ranked_search_runs_the_query_encoder_once(ranked_app, monkeypatch):
    """Batched or not, the ranker gets the embedding /search computed (from the cache), not a
    second BERT pass."""
    app, _ = ranked_app
    version, ctx = app.pipeline.current()
    ranker = app.manager.get("tfrec_ranker")
    for queues in ({}, ranker.batch_queues):  # a server without batching, then with it
        monkeypatch.setattr(ranker, "batch_queues", queues)
        calls = []
        run = version.run
        monkeypatch.setattr(
            version,
            "run",
            lambda sig, inputs, run=run, calls=calls: (calls.append(sig), run(sig, inputs))[1],
        )
        ctx.query_encoder._recent.clear()
        status, body = get(app, "search", q="a query never asked", user_id="u1", k=3)
        assert status == 200 and body["ranker"] is not None
        assert calls.count("query_encoder") == 1, calls
        monkeypatch.undo()


def test_bench_stages_batched_are_the_one_by_one_stages(ranked_app, exported_run):
    # the serving bench's batch capacity runs the same work as its one-stream bound: a batch
    # of queries finds what each query finds alone, and the ranker runs on their stacked rows
    from tfrec.bench.serving import SearchStages, batch_capacity, lower_bound

    server, _ = ranked_app
    exported_run[4].save(RunDir(server.run_dir).index, savedmodel=False)  # as `tfrec index build`
    stages = SearchStages(server.run_dir, candidates=8, rank_candidates=5)
    assert stages.ranker is not None and stages.embedded
    queries = ["red mug", "blue cable", "green lamp"]
    together = stages(queries)
    assert together.shape == (3, 5)
    for row, q in zip(together, queries, strict=True):
        np.testing.assert_array_equal(stages([q])[0], row)
    bound = lower_bound(stages, queries, warmup=1)
    assert (bound["requests"], bound["ranked"], bound["ranker"]) == (3, 5, "tfrec_ranker:1")
    capacity = batch_capacity(stages, queries, (2, 4), rounds=2)
    assert [c["size"] for c in capacity] == [2, 4]
    assert all(
        c["batch_ms"] > 0 and c["qps"] == pytest.approx(c["size"] * 1000 / c["batch_ms"])
        for c in capacity
    )
