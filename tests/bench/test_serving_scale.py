"""The serving bench's large catalog (tfrec/bench/serving_scale.py): synthetic variants of
catalog items, with distinct ids and vectors near their parents'."""

import numpy as np
import pandas as pd

from tfrec.bench.serving_scale import synthetic_variants


def test_variants_copy_their_parent_and_stay_near_its_vector():
    items = pd.DataFrame(
        {
            "title": ["red mug", "lamp", "tent"],
            "category": ["A > B", "C", "D"],
            "price": [5, 20, 99],
        },
        index=pd.Index(["m", "l", "t"], name="item_id"),
    )
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows, vecs = synthetic_variants(items, vectors, ["m", "l", "t"], 500, 0.05, seed=3)
    assert len(rows) == 500 and vecs.shape == (500, 16) and vecs.dtype == np.float32
    assert rows["item_id"].is_unique and set(items.index).isdisjoint(rows["item_id"])
    parents = rows["item_id"].str.split("-s").str[0]
    assert (rows["title"].to_numpy() == items.loc[parents, "title"].to_numpy()).all()
    ratio = rows["price"].to_numpy() / items.loc[parents, "price"].to_numpy()
    assert ((ratio >= 0.79) & (ratio <= 1.26)).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    near = vecs @ vectors.T
    assert (near.argmax(1) == [{"m": 0, "l": 1, "t": 2}[p] for p in parents]).all()
    assert len({v.tobytes() for v in vecs}) == 500  # distinct vectors
    # the same seed gives the same catalog
    again, vecs2 = synthetic_variants(items, vectors, ["m", "l", "t"], 500, 0.05, seed=3)
    assert again.equals(rows) and np.array_equal(vecs, vecs2)
