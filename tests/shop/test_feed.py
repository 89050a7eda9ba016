import numpy as np
import pytest

from tfrec.shop.feed import home_feed, search


def ids(result):
    return [r["item_id"] for r in result["items"]]


def test_unknown_user_without_session_gets_popularity(ctx):
    out = home_feed(ctx, "stranger", k=3)
    assert out["source"] == "popularity" and not out["user_known"]
    assert ids(out) == ["i1", "i7", "i2"]
    assert home_feed(ctx, None, k=2)["source"] == "popularity"


def test_unknown_user_with_session_is_served_from_the_session(ctx):
    out = home_feed(ctx, "stranger", session_items=["i4", "nope"], k=2, explain=True)
    assert out["source"] == "session"
    assert out["unknown_session_items"] == ["nope"]
    assert "i4" not in ids(out) and ids(out)[0] == "i5"
    assert out["items"][0]["explanation"]["closest_history_item"]["item_id"] == "i4"


def test_known_user_is_personalised_and_seen_items_left_out(ctx):
    out = home_feed(ctx, "alice", k=2)
    assert out["source"] == "personalised" and out["user_known"]
    assert "i2" not in ids(out) and ids(out)[0] == "i1"
    assert "i2" in ids(home_feed(ctx, "alice", k=2, exclude_seen=False))


def test_mmr_diversifies(ctx):
    plain = ids(home_feed(ctx, "alice", k=2, exclude_seen=False))
    diverse = ids(home_feed(ctx, "alice", k=2, exclude_seen=False, mmr_lambda=0.1, candidates=7))
    assert plain == ["i2", "i1"] and diverse[0] == "i2" and diverse[1] != "i1"


def test_bad_k_and_empty_query(ctx):
    with pytest.raises(ValueError, match="k"):
        home_feed(ctx, "alice", k=0)
    with pytest.raises(ValueError, match="empty"):
        search(ctx, "  ")


def test_tiny_model_feed_for_known_and_unknown_users(tiny_ctx, tiny_data):
    user = next(iter(tiny_ctx.user_histories))
    out = home_feed(tiny_ctx, user, k=5, explain=True)
    assert out["source"] == "personalised" and len(out["items"]) == 5
    assert not set(ids(out)) & {tiny_ctx.item_ids[i] for i in tiny_ctx.user_seen[user]}
    anon = home_feed(tiny_ctx, None, session_items=["i3"], k=5)
    assert anon["source"] == "session" and "i3" not in ids(anon)
    hits = search(tiny_ctx, "mug", k=3, explain=True)
    assert len(hits["items"]) == 3 and "query_terms" in hits["items"][0]["explanation"]
    scores = [r["score"] for r in out["items"]]
    assert scores == sorted(scores, reverse=True) and np.isfinite(scores).all()
