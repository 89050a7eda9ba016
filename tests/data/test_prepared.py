"""Tests for tfrec/data/prepared.py: examples carry only the past; impression labels."""

import numpy as np
import pandas as pd
import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.catalog import PAD
from tfrec.data.prepared import prepare_data


@pytest.fixture(scope="module")
def shop():
    return make_shop()


def test_time_split_is_leak_free(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    r = data.retrieval
    val_start, test_start = data.cutoffs["val_start"], data.cutoffs["test_start"]
    assert (r[r.split == "train"].timestamp < val_start).all()
    assert (r[r.split == "test"].timestamp >= test_start).all()
    # every history item was interacted with strictly before the example
    pos = events[events.event == "click"]
    first_click = pos.groupby(["user_id", "item_id"]).timestamp.min()
    for _, row in r.iterrows():
        for idx in row.history[row.history > PAD]:
            item = data.item_vocab.values[idx]
            assert first_click[(row.user_id, item)] < row.timestamp
    # feed evaluation histories stop at the start of the period
    for _, row in data.feed_eval["test"].iterrows():
        for idx in row.history[row.history > PAD]:
            assert first_click[(row.user_id, data.item_vocab.values[idx])] < test_start
    # training popularity counts only training examples
    assert data.item_train_counts.sum() == (r.split == "train").sum()


def test_impression_labels_and_funnel(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    imp = data.impressions
    assert len(imp) == len(
        events[events.event == "impression"].drop_duplicates(["session_id", "query", "item_id"])
    )
    assert (imp.click >= imp.add_to_cart).all() and (imp.add_to_cart >= imp.purchase).all()
    assert 0 < imp.click.mean() < 1


def _ratings_log(session_ids=None):
    """A ratings-like log: each user rates several items, some on the same day, one user rates
    the same item twice on different days; no query."""
    import pandas as pd

    items = pd.DataFrame(
        {"item_id": [f"i{k}" for k in range(6)], "title": [f"t{k}" for k in range(6)]}
    )
    rows = [
        ("u1", "i0", "2024-01-01 10:00"),
        ("u1", "i1", "2024-01-01 10:05"),
        ("u1", "i0", "2024-01-03 09:00"),  # the same item again, another day
        ("u1", "i2", "2024-01-20 12:00"),
        ("u2", "i0", "2024-01-01 11:00"),
        ("u2", "i3", "2024-01-02 11:00"),
        ("u2", "i3", "2024-01-02 11:30"),  # the same item again, same day, another time
        ("u2", "i4", "2024-01-25 08:00"),
        ("u3", "i5", "2024-01-29 08:00"),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    events["event"] = "purchase"
    if session_ids is not None:
        events["session_id"] = session_ids
    return items, events


@pytest.mark.parametrize("sessions", ["absent", "empty", "missing"])
def test_a_log_without_sessions_keeps_every_event(sessions):
    import numpy as np

    ids = {"absent": None, "empty": [""] * 9, "missing": [None] * 9}[sessions]
    items, events = _ratings_log(ids)
    data = prepare_data(items, events, SplitConfig(test_days=3, val_days=3))
    r = data.retrieval
    # every (user, item, time) event becomes an example
    got = sorted(zip(r.user_id, r.item_id, r.timestamp))
    want = sorted(zip(events.user_id, events.item_id, events.timestamp))
    assert got == want
    # sessions fall back to user + day
    assert set(r.session_id) >= {"u1:2024-01-01", "u2:2024-01-02"}
    f = data.funnel["train"]
    assert f["sessions_filled_by_user_day"] == f["examples"] == (r.split == "train").sum()
    assert sum(f["removed"].values()) == 0
    assert np.isin(["train", "val", "test"], list(data.funnel)).all()


def test_real_sessions_merge_repeats_and_say_so():
    items, events = _ratings_log(["s1", "s1", "s2", "s3", "s4", "s5", "s5", "s6", "s7"])
    data = prepare_data(items, events, SplitConfig(test_days=3, val_days=3))
    # u2 bought i3 twice in session s5: one example; u1's i0 in two sessions: two examples
    assert len(data.retrieval) == 8
    f = data.funnel["train"]
    assert f["sessions_from_log"] == 7 and f["sessions_filled_by_user_day"] == 0
    assert f["removed"][next(k for k in f["removed"] if k.startswith("repeat"))] == 1
    from tfrec.data.prepared import funnel_lines

    lines = funnel_lines(data.funnel)
    assert lines[0] == "train: 7 events -> 6 retrieval examples"
    assert any("1 (14.3%) removed: repeat of the same item" in line for line in lines)


def test_partly_missing_session_ids_fall_back_per_row():
    from tfrec.data.prepared import session_ids

    _, events = _ratings_log(["s1", "", None, "s3", " ", "s5", "s5", "s6", "s7"])
    ids, real = session_ids(events)
    assert ids.tolist()[:5] == ["s1", "u1:2024-01-01", "u1:2024-01-03", "s3", "u2:2024-01-01"]
    assert real.tolist()[:5] == [True, False, False, True, False]


def test_new_items_are_those_a_trained_model_has_never_seen():
    from tiny_shop import make_shop_with_new_items

    items, events = make_shop_with_new_items()
    # i1: launched long ago; i2: only impressions before the cutoff (seen, never chosen)
    items["created_at"] = pd.NaT
    items.loc[items.item_id.isin(["i61", "i1"]), "created_at"] = pd.Timestamp("2025-01-01")
    early = events.timestamp < events.timestamp.max() - pd.Timedelta(days=10)
    events = events[~((events.item_id == "i2") & early & (events.event != "impression"))]
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    row = {item: data.item_vocab.lookup([item])[0] for item in ["i1", "i2", "i60", "i61", "i62"]}
    new = data.new_items
    assert data.item_train_counts[row["i2"]] == 0 and not new[row["i2"]]
    assert not new[row["i61"]]  # launched before the cutoff: an old item nobody chose
    assert new[row["i60"]] and new[row["i62"]] and not new[PAD]
    assert not (new & (data.item_train_counts > 0)).any()
    assert set(np.flatnonzero(new)) <= set(np.flatnonzero(data.cold_items))
