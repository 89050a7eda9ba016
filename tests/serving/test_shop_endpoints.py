"""The shop endpoints answer with the library's capabilities on the served version's context:
same items as `tfrec.shop` called in-process, unknown users get a feed, the session changes it,
unknown items are 404s, bad parameters 400s naming the parameter, live item adds (cold start)
are retrievable at once and survive a version swap."""

import shutil
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pytest
from serving_client import as_json, get, http, wait_for

from tfrec.serving.server import ServingApp
from tfrec.shop import bundle, complementary_items, home_feed, search, similar_items
from tfrec.shop.context import ModelQueryEncoder, normalise_rows


def test_served_context_holds_the_served_vectors(app, exported_run):
    _, _, data, model, _ = exported_run
    version, ctx = app.pipeline.current()
    assert (version.name, version.version) == ("tfrec_scann", 1)
    want = normalise_rows(model.all_item_embeddings())
    np.testing.assert_allclose(ctx.item_embeddings[1:], want[1:], atol=1e-5)
    hist = np.zeros((2, data.max_history), np.int64)
    hist[0, -2:] = [3, 5]
    user_idx = np.array([data.user_vocab.lookup(["u1"])[0], 0])
    served = ctx.query_encoder(["mug", ""], user_idx, hist)
    in_process = ModelQueryEncoder(model, data.queries)(["mug", ""], user_idx, hist)
    np.testing.assert_allclose(served, in_process, atol=1e-4)


def test_each_endpoint_equals_the_library_in_process(app):
    _, ctx = app.pipeline.current()
    s = app.run_config.shop
    user = next(iter(ctx.user_histories))
    cases = [
        (
            get(app, "recommend", user_id=user, session_items="i1,i2", k=5, explain="true"),
            home_feed(
                ctx,
                user,
                ["i1", "i2"],
                k=5,
                explain=True,
                session_weight=s.session_weight,
                mmr_lambda=s.mmr_lambda,
                candidates=s.mmr_candidates,
            ),
        ),
        (
            get(app, "recommend", session_items="i4", session_queries="mug", k=4, mmr_lambda=0.5),
            home_feed(
                ctx,
                None,
                ["i4"],
                ["mug"],
                k=4,
                mmr_lambda=0.5,
                session_weight=s.session_weight,
                candidates=s.mmr_candidates,
            ),
        ),
        (
            get(app, "search", q="red shoes", user_id=user, session_items="i7", k=6, explain=1),
            search(ctx, "red shoes", user, ["i7"], k=6, explain=True),
        ),
        (
            get(app, "similar", item_id="i3", weights="semantic:1,behavioural:0.5", k=5),
            similar_items(ctx, "i3", 5, {"semantic": 1.0, "behavioural": 0.5, "attribute": 0.2}),
        ),
        (
            get(app, "complementary", item_id="i3", cart="i8", k=5),
            complementary_items(ctx, ["i3", "i8"], 5),
        ),
        (get(app, "bundle", items="i3,i8", size=2), bundle(ctx, ["i3", "i8"], 2)),
    ]
    for (status, body), want in cases:
        assert status == 200, body
        assert body["model"] == {"name": "tfrec_scann", "version": 1}
        want = as_json(want)
        assert body["items"] and body["items"] == want["items"]
        assert body.get("ranker", "absent") in (None, "absent")  # no ranker served here
        assert {k: v for k, v in body.items() if k not in ("endpoint", "model", "ranker")} == want


def test_unknown_users_get_a_feed_and_the_session_changes_it(app):
    status, plain = get(app, "recommend", user_id="never-seen", k=5)
    assert status == 200 and plain["source"] == "popularity" and len(plain["items"]) == 5
    assert plain["user_known"] is False
    status, anon = get(app, "recommend", k=5)
    assert status == 200 and anon["source"] == "popularity" and anon["user_id"] is None
    status, body = get(app, "recommend", user_id="never-seen", session_items="i1,nope,i2", k=5)
    assert status == 200 and body["source"] == "session"
    assert body["unknown_session_items"] == ["nope"]
    ids = [it["item_id"] for it in body["items"]]
    assert ids != [it["item_id"] for it in plain["items"]]
    assert not {"i1", "i2"} & set(ids)  # the session's own items are not recommended back

    _, ctx = app.pipeline.current()
    user = next(iter(ctx.user_histories))
    _, known = get(app, "recommend", user_id=user, k=5)
    _, with_session = get(app, "recommend", user_id=user, session_items="i10,i13", k=5)
    assert known["source"] == with_session["source"] == "personalised"
    assert [it["item_id"] for it in known["items"]] != [
        it["item_id"] for it in with_session["items"]
    ]


def test_explanations_on_request(app):
    _, ctx = app.pipeline.current()
    user = next(iter(ctx.user_histories))
    for endpoint, params in (
        ("recommend", {"user_id": user}),
        ("recommend", {}),
        ("search", {"q": "item number 4", "session_items": "i4"}),
    ):
        _, body = get(app, endpoint, k=3, explain="true", **params)
        assert all(it["explanation"]["reasons"] for it in body["items"]), body
        _, body = get(app, endpoint, k=3, **params)
        assert all("explanation" not in it for it in body["items"])
    _, body = get(app, "search", q="item number 4", k=3, explain="true")
    assert "number" in body["items"][0]["explanation"]["query_terms"]


def test_similar_shows_each_dimension(app):
    status, body = get(app, "similar", item_id="i3", weights="semantic=0,attribute=1", k=4)
    assert status == 200
    assert body["weights"] == {"semantic": 0.0, "behavioural": 0.4, "attribute": 1.0}
    for it in body["items"]:
        assert set(it["contributions"]) == {"semantic", "behavioural", "attribute"}
        assert it["contributions"]["semantic"] == 0.0
        assert abs(sum(it["contributions"].values()) - it["score"]) < 1e-4


BAD = [
    ("/recommend?k=0", 400, "k must be between 1 and 20; got k=0"),
    ("/recommend?k=21", 400, "got k=21"),
    ("/recommend?k=abc", 400, "k must be an integer between 1 and 20; got k='abc'"),
    (
        "/recommend?mmr_lambda=1.5",
        400,
        "mmr_lambda must be a number in [0, 1]; got mmr_lambda='1.5'",
    ),
    ("/search?q=mug&mmr_lambda=nan", 400, "mmr_lambda='nan'"),
    ("/search?q=mug&explain=maybe", 400, "explain must be true or false; got explain='maybe'"),
    ("/search?q=mug&kk=3", 400, "unknown parameter 'kk' for /search"),
    ("/search?k=3", 400, "/search needs q="),
    ("/search?q=mug&retriever=bm25", 400, "retriever must be one of dense, hybrid; got retriever="),
    ("/similar?item_id=i3&weights=colour:1", 400, "weights: 'colour:1' names no similarity"),
    ("/similar?item_id=i3&weights=semantic:-1", 400, "weights: 'semantic:-1' needs a number >= 0"),
    ("/similar?item_id=i3&weights=semantic:x", 400, "got weights='semantic:x'"),
    (
        "/similar?item_id=i3&weights=semantic:0,behavioural:0,attribute:0",
        400,
        "at least one weight must be > 0",
    ),
    ("/similar", 400, "/similar needs item_id"),
    ("/similar?item_id=nope", 404, "unknown item id 'nope'"),
    ("/complementary?item_id=i3&cart=nope", 404, "unknown item id 'nope'"),
    ("/complementary?cart=i3", 400, "/complementary needs item_id"),
    ("/bundle?items=i3&size=0", 400, "size must be between 1 and 20; got size=0"),
    ("/bundle?items=", 400, "/bundle needs items"),
    ("/bundle?items=nope", 404, "unknown item id 'nope'"),
    ("/recommend?session_items=" + ",".join(f"x{i}" for i in range(101)), 400, "limit is 100"),
]


@pytest.mark.parametrize("path,status,words", BAD)
def test_bad_parameters_are_named(app, path, status, words):
    got, body = http(app, "GET", path)
    assert got == status, body
    assert set(body) == {"error"} and words in body["error"], body["error"]


def test_search_retriever_hybrid_against_dense(app, monkeypatch):
    _, ctx = app.pipeline.current()
    s = app.run_config.shop
    assert ctx.lexical_index().num_items == ctx.num_items  # built with the version's context
    monkeypatch.setattr(s, "hybrid_weight", 1.0)  # BM25 order: the exact title first
    status, dense = get(app, "search", q="item number 4", k=5)
    assert status == 200 and dense["retriever"] == "dense"
    assert dense["items"] == as_json(search(ctx, "item number 4", k=5))["items"]
    status, hybrid = get(app, "search", q="item number 4", k=5, retriever="hybrid")
    want = search(
        ctx,
        "item number 4",
        k=5,
        retriever="hybrid",
        hybrid_weight=1.0,
        hybrid_depth=s.hybrid_depth,
    )
    assert status == 200 and hybrid["retriever"] == "hybrid"
    assert hybrid["items"] == as_json(want)["items"] and hybrid["items"][0]["item_id"] == "i4"
    assert [it["item_id"] for it in hybrid["items"]] != [it["item_id"] for it in dense["items"]]
    monkeypatch.setattr(s, "retriever", "hybrid")  # the config's default when none is asked
    assert get(app, "search", q="item number 4", k=5)[1]["items"] == hybrid["items"]


def test_index_candidates_on_the_served_version_equal_the_whole_catalog(app):
    """From `index.brute_force_below` indexed items on (0 here), /search and /recommend take
    the served index's top candidates (its `neighbors` signature) and re-score only those; the
    tiny run's index is exact, so the results equal the whole-catalog matmul's."""
    from tfrec.serving.shop_context import ServedIndexSearch, add_rows, build_context
    from tfrec.shop.retrieve import dense_scores

    p = app.pipeline
    version, exact_ctx = p.current()
    ctx = build_context(
        version, p.data, p.text_table, p.items, p._added_rows(), p.text_embedder, exact_below=0
    )
    assert isinstance(ctx.candidate_search, ServedIndexSearch)
    assert exact_ctx.candidate_search is None  # 60 items < brute_force_below: the matmul
    asked, served = [], ctx.candidate_search
    ctx.candidate_search = lambda emb, n: asked.append(n) or served(emb, n)
    user = next(iter(ctx.user_histories))

    def same(got, want):
        assert [x["item_id"] for x in got["items"]] == [x["item_id"] for x in want["items"]]
        np.testing.assert_allclose(
            [x["score"] for x in got["items"]], [x["score"] for x in want["items"]], atol=2e-5
        )

    for q in ("mug", "red shoes", "tent lamp"):
        same(search(ctx, q, user, k=5, index_candidates=20), search(exact_ctx, q, user, k=5))
        hybrid = {"retriever": "hybrid", "hybrid_depth": 30}
        same(
            search(ctx, q, k=5, index_candidates=20, **hybrid), search(exact_ctx, q, k=5, **hybrid)
        )
    same(
        home_feed(ctx, user, ["i1"], k=5, index_candidates=20),
        home_feed(exact_ctx, user, ["i1"], k=5),
    )
    assert 20 in asked and 30 in asked and max(asked) < ctx.num_items - 1
    # a live add is not in the version's index: scored exactly all the same
    rows = pd.DataFrame([{**NEW, "item_id": "n5", "description": ""}])
    live = add_rows(ctx, version, p.data.catalog, p.users, rows, p.text_embedder)
    row = live.item_index("n5")
    assert live.unindexed_rows.tolist() == [row] and ctx.unindexed_rows.tolist() == []
    assert np.isfinite(dense_scores(live, live.item_embeddings[1], 3)[row])


def test_category_filter(app):
    _, body = get(app, "recommend", user_id="nobody", category="E > F", k=5)
    assert len(body["items"]) == 5 and body["category"] == "E > F"
    assert all(it["category"].startswith("E > F") for it in body["items"])
    assert [it["rank"] for it in body["items"]] == [1, 2, 3, 4, 5]


NEW = {
    "item_id": "n1",
    "title": "item number 3 deluxe",
    "category": "A > B > C",
    "brand": "brand3",
    "price": 12.5,
}


def test_live_item_add_is_served_at_once_and_survives_a_version_swap(exported_run, tmp_path):
    cfg, run, *_ = exported_run
    root = tmp_path / "run"
    shutil.copytree(run.root, root)
    app = ServingApp(
        root,
        port=0,
        grpc_port=None,
        api_key="k",
        config=cfg.serving,
        run_config=cfg,
    ).start()
    key = {"X-API-Key": "k"}
    try:
        assert http(app, "POST", "/v1/items", {"items": [NEW]})[0] == 401
        for body, words in (
            ({"items": [{**NEW, "price": -1}]}, "items[0].price must be a number >= 0"),
            ({"items": [{"item_id": "n2", "title": " "}]}, "items[0].title must be a non-empty"),
            ({"items": [{**NEW, "colour": "red"}]}, "items[0] has unknown field 'colour'"),
            ({"items": [NEW, NEW]}, "items[1].item_id 'n1' appears twice"),
            ({"rows": []}, 'the body must be {"items"'),
        ):
            status, payload = http(app, "POST", "/v1/items", body, key)
            assert status == 400 and words in payload["error"], payload
        assert get_with(app, key, "similar", item_id="n1")[0] == 404

        status, body = http(app, "POST", "/v1/items", {"items": [NEW]}, key)
        assert status == 200 and body["added"] == 1 and body["item_ids"] == ["n1"], body
        version, ctx = app.pipeline.current()
        row = ctx.item_index("n1")
        want = version.run(
            "item_encoder",
            {k: np.array([v], np.float32 if k == "price" else object) for k, v in NEW.items()}
            | {"description": np.array([""], object)},
        )["embedding"]
        np.testing.assert_allclose(ctx.item_embeddings[row], normalise_rows(want)[0], atol=1e-5)
        assert ctx.text_embeddings[row].any()  # semantic similarity works for it too
        status, body = get_with(app, key, "similar", item_id="n1", k=3)
        assert status == 200 and body["item"]["title"] == NEW["title"]
        status, body = get_with(app, key, "search", q="deluxe", k=20)
        assert status == 200 and body["items"] == as_json(search(ctx, "deluxe", k=20))["items"]
        everything = search(ctx, "deluxe", k=len(ctx.item_ids) - 1)["items"]
        assert "n1" in [it["item_id"] for it in everything]  # scored like every other item
        status, body = get_with(app, key, "search", q="deluxe", k=3, retriever="hybrid")
        assert status == 200 and body["items"][0]["item_id"] == "n1"  # BM25 has live items too
        status, body = get_with(app, key, "recommend", session_items="n1", k=3)
        assert body["source"] == "session" and body["unknown_session_items"] == []

        base = root / "export" / "tfrec_scann"
        shutil.copytree(base / "1", base / ".partial")
        (base / ".partial").rename(base / "2")
        assert wait_for(lambda: app.manager.get("tfrec_scann").version == 2)
        status, body = get_with(app, key, "similar", item_id="n1", k=3)
        assert status == 200 and body["model"]["version"] == 2
    finally:
        app.stop()


def get_with(app, headers, endpoint, **params):
    return http(app, "GET", f"/{endpoint}?{urlencode(params)}", headers=headers)


def test_live_add_needs_a_configured_api_key(app):
    status, body = http(app, "POST", "/v1/items", {"items": [NEW]})
    assert status == 403 and "API key" in body["error"]


def test_indexed_items_added_before_serving_are_in_the_context(exported_run, tmp_path):
    """`tfrec index add` + export: the new version's index holds the item; the server takes
    its vector from the index and its row from index/added_items.parquet."""
    from tfrec.serving.models import load_version
    from tfrec.serving.pipeline import ProductPipeline

    cfg, run, *_ = exported_run
    root = tmp_path / "run"
    shutil.copytree(run.root, root)
    version = load_version("tfrec_scann", root / "export" / "tfrec_scann" / "1")
    ids = [x.decode() for x in version.loaded.index_item_ids.numpy()]
    # an item the index holds under a new id (as `tfrec index add` leaves it): reuse row i5
    version.loaded.index_item_ids.assign(
        np.array([b"n9" if i == "i5" else i.encode() for i in ids], object)
    )
    (root / "index").mkdir(exist_ok=True)
    pd.DataFrame([{**NEW, "item_id": "n9"}]).to_parquet(root / "index" / "added_items.parquet")

    class Manager:
        on_load = None

    pipeline = ProductPipeline(root, Manager(), cfg)
    pipeline.prepare_version(version)
    ctx = version.extras["shop"]
    emb = version.loaded.index_embeddings.numpy()
    np.testing.assert_allclose(
        ctx.item_embeddings[ctx.item_index("n9")], normalise_rows(emb[ids.index("i5")]), atol=1e-6
    )
    assert ctx.titles[ctx.item_index("n9")] == NEW["title"]
    # the catalog's i5 is no longer in this index: embedded with the version's item_encoder
    assert ctx.item_embeddings[ctx.item_index("i5")].any()
