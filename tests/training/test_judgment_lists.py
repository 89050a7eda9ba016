"""Judged lists (tfrec.training.judgment_lists): cleaning, the split by query (disjoint,
seeded, capped), training lists = judged items + unjudged retrieved candidates as relevance 0,
candidate lists in retrieval order, per-pair features, the listwise dataset."""

import numpy as np
import pandas as pd
import pytest
from tiny_ranking import feature_builder, ranking_data, ranking_shop

from tfrec.config import Config
from tfrec.models.listwise import PAD_LABEL
from tfrec.training.judgment_lists import (
    JudgmentListBuilder,
    clean_judgments,
    listwise_dataset,
    split_judged_queries,
)


def test_split_is_disjoint_seeded_and_capped():
    queries = [f"q{i}" for i in range(100)] * 2
    split = split_judged_queries(queries, 0.1, 0.2, seed=7, max_train=0, max_eval=0)
    sets = {k: set(v) for k, v in split.items()}
    assert [len(split[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"]
    assert not sets["val"] & sets["test"]
    assert set().union(*sets.values()) == set(queries)
    assert split == split_judged_queries(queries, 0.1, 0.2, 7, 0, 0)
    assert split != split_judged_queries(queries, 0.1, 0.2, 8, 0, 0)
    capped = split_judged_queries(queries, 0.1, 0.2, 7, max_train=5, max_eval=3)
    assert capped == {
        "train": split["train"][:5],
        "val": split["val"][:3],
        "test": split["test"][:3],
    }
    with pytest.raises(ValueError, match="too few"):
        split_judged_queries(["a", "b"], 0.1, 0.2, 0, 0, 0)


@pytest.fixture(scope="module")
def setup():
    shop = ranking_shop()
    data = ranking_data(shop)
    retrieval = feature_builder(data, shop).retrieval_model
    judgments = pd.DataFrame(
        {
            "query": [" mug", "mug", "mug", "tent", "tent", "lamp", "lamp", "sofa"],
            "item_id": ["i1", "i2", "nope", "i3", "i4", "i5", "i6", "i7"],
            "relevance": [3, 1, 2, 2, 0, 0, 0, 1],
        }
    )
    return data, retrieval, judgments


def test_clean_judgments_drops_unknown_items_and_queries_without_relevant(setup):
    data, _, judgments = setup
    judged = clean_judgments(judgments, data)
    assert sorted(judged["query"].unique()) == ["mug", "sofa", "tent"]  # lamp: all 0
    assert "nope" not in set(judged["item_idx"]) and len(judged) == 5
    assert judged.loc[judged["query"] == "mug", "relevance"].tolist() == [3.0, 1.0]


def test_training_and_candidate_lists(setup):
    data, retrieval, judgments = setup
    cfg = Config()
    judged = clean_judgments(judgments, data)
    scorers = {"twice_idx": lambda qs: np.tile(np.arange(len(data.catalog)) * 2.0, (len(qs), 1))}
    builder = JudgmentListBuilder(cfg, data, retrieval, judged, scorers)
    mug = data.item_vocab.lookup(["i1", "i2"]).tolist()
    top = builder.retrieve(["mug", "tent"], 10)
    assert top.shape == (2, 10) and (top > 0).all()

    lists = builder.training_lists(["mug", "tent"], candidates=10, max_judged=50, seed=0)
    assert lists.feature_names == ["retrieval_logit", "twice_idx"]
    row = lists.items[0][lists.relevance[0] > PAD_LABEL / 2]
    # the judged items first, then the unjudged among the top 10 retrieved, labelled 0
    assert row[:2].tolist() == mug
    unjudged = [i for i in top[0] if i not in mug]
    assert row[2:].tolist() == unjudged
    assert lists.relevance[0, :2].tolist() == [3.0, 1.0]
    assert (lists.relevance[0, 2 : len(row)] == 0).all()
    # padding: item 0, label -1, features 0
    pad = lists.relevance == PAD_LABEL
    assert (lists.items[pad] == 0).all() and (lists.features[pad] == 0).all()
    np.testing.assert_allclose(lists.features[~pad][:, 1], lists.items[~pad] * 2.0)
    logits = builder.retrieval_scores(["mug"])[0]
    np.testing.assert_allclose(lists.features[0, : len(row), 0], logits[row], rtol=1e-5)

    sampled = builder.training_lists(["mug"], candidates=10, max_judged=1, seed=0)
    assert (sampled.relevance[0] > 0).sum() == 1

    cands = builder.candidate_lists(["tent"], 10)
    assert cands.items[0].tolist() == top[1].tolist()
    assert cands.relevance[0].tolist() == builder.relevance("tent", top[1]).tolist()

    batch, labels = next(iter(listwise_dataset(lists, builder, 2)))
    assert batch["item_embedding"].shape == (2, lists.items.shape[1], 16)
    assert batch["category"].shape[-1] == 3
    np.testing.assert_array_equal(batch["mask"].numpy(), (lists.relevance >= 0).astype("float32"))
