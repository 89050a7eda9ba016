"""The cold boost of a trained retrieval model, chosen on validation.

Item id embeddings, and the training they come from, favour items with a history: their scores
rise, and items without training interactions (new items, the long tail) fall behind where
their content alone, the zero-shot encoder, would put them. The item tower's `cold_boost`
(`tfrec.models.towers.ItemTower`) multiplies the scores of new items (no training interactions,
not launched or seen before the training cutoff; `PreparedData.new_items`) by `1 + cold_boost`.
`choose_cold_boost` measures every boost of a grid on the validation split, per task and slice
(`all`, `cold`, and `unseen` for the feed), next to the zero-shot encoder, and keeps:

1. the smallest boost at which every slice is at or above zero-shot's Recall@K and every cold
   slice strictly above it (a tie on the few dozen cold validation instances is no evidence
   that new items get their due). The smallest, because every step costs the warm items'
   places at the top: NDCG@10 of `all` falls as the boost grows (the grid printed shows both);
2. when none does, the one whose worst slice is least below zero-shot (ties: the smaller).

The query embeddings are computed once; each boost only rescales the item embeddings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tf_keras as keras

from tfrec.core.log import echo
from tfrec.data.catalog import PAD
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.retrieval import evaluate_scorers
from tfrec.evaluation.scorers import Scorer, model_query_embeddings, zero_shot_scorer
from tfrec.evaluation.validation import tasks_present

BOOST_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)


class _QueryEmbeddingCache:
    """The model's query embeddings of one task's instance chunks, computed once; `scorer`
    scores them against any item embeddings."""

    def __init__(self, data: PreparedData, model):
        self.data, self.model = data, model
        self._chunks: dict = {}

    def scorer(self, item_emb: np.ndarray) -> Scorer:
        def score(inst: pd.DataFrame) -> np.ndarray:
            key = (int(inst.index[0]) if len(inst) else 0, len(inst))
            if key not in self._chunks:
                self._chunks[key] = model_query_embeddings(self.data, self.model, inst)
            return self._chunks[key] @ item_emb.T

        return score


def choose_cold_boost(
    data: PreparedData,
    model,
    k: int = 100,
    grid: tuple[float, ...] = BOOST_GRID,
    max_instances: int = 2000,
    seed: int = 0,
    split: str = "val",
) -> dict:
    """Measure each boost of `grid` on the validation split and pick one (module docstring).

    The model's boost is left at 0; the caller assigns the chosen one
    (`model.item_tower.cold_boost.assign(...)`).

    Args:
        data: the prepared data (its `val` split, training counts and text tables).
        model: a trained `RetrievalModel` with item id embeddings.
        k: the Recall@K cut-off. Defaults to 100.
        grid: the boosts tried, each >= 0. Defaults to `BOOST_GRID`.
        max_instances: at most this many validation instances per task (a seeded sample).
        seed: the sampling seed.
        split: str. The held-out split measured. Defaults to `val` (choosing on `test` would
            make the test figures a fit).

    Returns:
        `{"boost": float, "rows": [{"boost", "task", "slice", "instances", "recall",
        "zero_shot", "ndcg"}, ...],
        "held": bool}` (`ndcg`: NDCG@10): `held` is False when no boost kept every slice at
        zero-shot's level and the cold ones above it.

    Example:
        >>> choice = choose_cold_boost(data, model)  # doctest: +SKIP
        >>> model.item_tower.cold_boost.assign(choice["boost"])  # doctest: +SKIP
    """
    if model.item_id_rows is None:
        raise ValueError("the model has no item id embeddings, so no item is boosted as cold")
    if any(b < 0 for b in grid) or not grid:
        raise ValueError(f"cold boosts must be a non-empty grid of values >= 0; got {grid}")
    model.item_tower.cold_boost.assign(0.0)
    item_emb = np.asarray(model.all_item_embeddings())
    new = model.item_new.numpy().astype(bool)
    new[PAD] = False
    zero_shot = zero_shot_scorer(
        data, model.item_text_table.numpy(), model.query_text_table.numpy()
    )
    rows = []
    for task in tasks_present(data):
        queries = _QueryEmbeddingCache(data, model)
        scorers = {"zero_shot": zero_shot}
        for boost in grid:
            boosted = (item_emb * (1.0 + boost * new)[:, None]).astype(np.float32)
            scorers[f"boost={boost:g}"] = queries.scorer(boosted)
        res = evaluate_scorers(
            data,
            scorers,
            task,
            split,
            ks=sorted({10, k}),
            max_instances=max_instances,
            seed=seed,
            curve_k=1,
        )
        for sl, by_scorer in res["slices"].items():
            for boost in grid:
                rows.append(
                    {
                        "boost": boost,
                        "task": task,
                        "slice": sl,
                        "instances": by_scorer[f"boost={boost:g}"]["instances"],
                        "recall": by_scorer[f"boost={boost:g}"][f"recall@{k}"],
                        "zero_shot": by_scorer["zero_shot"][f"recall@{k}"],
                        "ndcg": by_scorer[f"boost={boost:g}"]["ndcg@10"],
                    }
                )
    if not rows:
        return {"boost": 0.0, "rows": [], "held": True}
    table = pd.DataFrame(rows)
    table["gap"] = table["recall"] - table["zero_shot"]
    per_boost = table.groupby("boost").agg(worst_gap=("gap", "min"))
    cold = table[table["slice"] == "cold"]
    per_boost["cold_gap"] = cold.groupby("boost")["gap"].min() if len(cold) else np.inf
    held = per_boost[(per_boost["worst_gap"] >= 0) & (per_boost["cold_gap"] > 0)]
    if len(held):
        boost = float(held.index.min())
    else:
        boost = float(per_boost["worst_gap"].idxmax())  # idxmax: the first (smallest) of ties
    return {"boost": boost, "rows": rows, "held": bool(len(held))}


def _echo_choice(choice: dict, k: int) -> None:
    table = pd.DataFrame(choice["rows"])
    if table.empty:
        echo("[retrieval] cold boost: no validation instances, the boost stays 0")
        return
    echo(f"[retrieval] cold boost on validation, Recall@{k} per task/slice (zero-shot beside):")
    for (task, sl), part in table.groupby(["task", "slice"], sort=False):
        cells = " ".join(f"{b:g}:{r:.4f}" for b, r in zip(part["boost"], part["recall"]))
        ndcg = " ".join(f"{n:.3f}" for n in part["ndcg"])
        echo(
            f"  {task}/{sl} ({int(part['instances'].iloc[0])}): zero-shot "
            f"{part['zero_shot'].iloc[0]:.4f} | {cells} | NDCG@10 {ndcg}"
        )
    how = (
        "the smallest that keeps every slice >= zero-shot and the cold ones above it"
        if choice["held"]
        else "no boost keeps every slice >= zero-shot (cold ones above it); the one closest"
    )
    echo(f"[retrieval] cold boost {choice['boost']:g}: {how}")


class ColdBoostChooser(keras.callbacks.Callback):
    """At the end of training (after the best weights are back), chooses the model's cold boost
    on validation (`choose_cold_boost`) and assigns it, or assigns a fixed one.

    Args:
        data: the prepared data.
        fixed: float or None. A boost to assign without measuring (`retrieval.cold_boost`);
            None chooses on validation.
        k: the Recall@K cut-off. Defaults to 100.

    Example:
        >>> train_retrieval(cfg, run, data, [vr], after_best=[vr.guard(), ColdBoostChooser(data)])  # doctest: +SKIP
    """

    def __init__(self, data: PreparedData, fixed: float | None = None, k: int = 100):
        super().__init__()
        self.data = data
        self.fixed = fixed
        self.k = k
        self.chosen: float | None = None

    def on_train_end(self, logs=None):
        if self.model.item_id_rows is None:
            return
        if self.fixed is not None:
            self.chosen = float(self.fixed)
            echo(f"[retrieval] cold boost {self.chosen:g} (retrieval.cold_boost)")
        else:
            choice = choose_cold_boost(self.data, self.model, k=self.k)
            _echo_choice(choice, self.k)
            self.chosen = choice["boost"]
        self.model.item_tower.cold_boost.assign(self.chosen)
