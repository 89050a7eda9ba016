"""The shop context of a trained run, for the `tfrec recommend | similar | complementary |
search` commands: the run's catalog and retrieval model through `RunArtifacts`."""

from __future__ import annotations

from collections.abc import Sequence

from tfrec.shop.context import ModelQueryEncoder, ShopContext
from tfrec.stages.artifacts import RunArtifacts
from tfrec.text.frozen import make_text_encoder


def shop_context_for_run(art: RunArtifacts, splits: Sequence[str] | None = None) -> ShopContext:
    """The `ShopContext` of a trained run: its retrieval model's item embeddings and frozen
    text table, its catalog, and popularity, co-occurrence and user histories from every event
    (`splits` None: the serving state) or from some splits (`("train",)`: leak-free). Queries
    outside the run's known ones attach the frozen text encoder of `cfg.text` on first use.

    Args:
        art: the run's artifacts (`art.data()`, `art.retrieval_model()`).
        splits: the event splits behind popularity, co-occurrence and histories (None: all).

    Example:
        >>> art = RunArtifacts(cfg, RunDir(cfg.run_path))  # doctest: +SKIP
        >>> ctx = shop_context_for_run(art)  # doctest: +SKIP
        >>> home_feed(ctx, "u42", k=10)  # doctest: +SKIP
    """
    cfg = art.cfg
    data = art.data()
    model = art.retrieval_model()
    encoder = ModelQueryEncoder(model, data.queries, lambda: make_text_encoder(cfg, mode="frozen"))
    return ShopContext.from_prepared(
        data,
        model.all_item_embeddings(),
        model.item_text_table.numpy(),
        encoder,
        splits=splits,
    )
