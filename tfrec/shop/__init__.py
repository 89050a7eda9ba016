"""What a shop needs from tfrec: home feed, session intent, cold start, similar and
complementary items, explanations and diversity, on top of a trained two-tower run.

    from tfrec.shop import home_feed, similar_items, complementary_items, bundle
    from tfrec.stages.artifacts import RunArtifacts
    from tfrec.stages.shop_context import shop_context_for_run
    ctx = shop_context_for_run(RunArtifacts(cfg, RunDir(cfg.run_path)))
    home_feed(ctx, "u42", session_items=["P000123"], k=10, explain=True)
"""

from tfrec.shop.cold_start import add_items_to_context, embed_new_items, new_item_features
from tfrec.shop.complementary import bundle, complementary_items, complementary_scores
from tfrec.shop.context import ModelQueryEncoder, ShopContext, UnknownItemError
from tfrec.shop.cooccurrence import CoCounts
from tfrec.shop.diversity import (
    catalog_coverage,
    category_diversity,
    intra_list_diversity,
    mmr_rerank,
)
from tfrec.shop.explain import explain_item
from tfrec.shop.feed import home_feed, search
from tfrec.shop.hybrid import hybrid_scores, rrf
from tfrec.shop.session import session_history, session_query_embeddings
from tfrec.shop.similar import similar_items, similar_scores

__all__ = [
    "CoCounts",
    "ModelQueryEncoder",
    "ShopContext",
    "UnknownItemError",
    "add_items_to_context",
    "bundle",
    "catalog_coverage",
    "category_diversity",
    "complementary_items",
    "complementary_scores",
    "embed_new_items",
    "explain_item",
    "home_feed",
    "hybrid_scores",
    "intra_list_diversity",
    "mmr_rerank",
    "rrf",
    "new_item_features",
    "search",
    "session_history",
    "session_query_embeddings",
    "similar_items",
    "similar_scores",
]
