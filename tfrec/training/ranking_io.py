"""The ranker's constructor arguments, and saving and loading a trained ranker.

A saved ranker is a directory (the ranking stage writes `RunDir.ranker` and
`RunDir.ranking_baseline`) with `model.json` (constructor config, embedding size, the extra
features' vocabularies and statistics) and `weights` (a TF checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tfrec.config import Config
from tfrec.data.catalog import Vocabulary
from tfrec.data.prepared import PreparedData
from tfrec.data.ranking_examples import HISTORY_FEATURES, ExtraFeatureEncoder
from tfrec.models.ranking import RankingModel, random_candidates


def architecture_config(r) -> dict:
    """The `RankingModel` arguments that come straight from `RankingConfig` `r` (the layers'
    shapes and the position handling), shared by the trained ranker and the benchmark.

    Args:
        r: RankingConfig. The config's `ranking` section.

    Example:
        >>> architecture_config(Config().ranking)["deep_layers"]
        [128, 64]
    """
    return {
        "feature_dim": r.feature_dim,
        "cross_layers": r.cross_layers,
        "projection_dim": r.projection_dim,
        "deep_layers": list(r.deep_layers),
        "structure": r.structure,
        "max_position": r.max_position,
        "serving_position": r.serving_position,
        "item_id_dim": r.item_id_embedding_dim,
    }


def ranking_model_config(
    cfg: Config,
    data: PreparedData,
    extras: ExtraFeatureEncoder | None,
    purchase_head: bool,
    train_features: dict | None = None,
) -> dict:
    """Constructor arguments of the run's ranker; numeric features (the history features and
    numeric extras) are standardised with their mean and std over `train_features`.

    Args:
        cfg: the run's config (`ranking`, `retrieval.temperature`).
        data: PreparedData. Its catalog sizes the embeddings.
        extras: ExtraFeatureEncoder or None. The config-declared extra features.
        purchase_head: bool. Whether the purchase-given-click head is trained.
        train_features: dict of np.ndarray or None. Training features (None: mean 0, std 1).

    Example:
        >>> config = ranking_model_config(cfg, data, None, True, feats)  # doctest: +SKIP
        >>> model = RankingModel.from_config(config)  # doctest: +SKIP
    """
    r = cfg.ranking
    c = data.catalog
    numeric = [*HISTORY_FEATURES, *(extras.numeric if extras else [])]
    means, stds = [], []
    for name in numeric:
        x = np.asarray(train_features[name], np.float64) if train_features else np.zeros(1)
        means.append(float(x.mean()))
        stds.append(float(x.std()) or 1.0)
    return {
        "category_vocab_sizes": [len(v) for v in c.category_vocabs],
        "brand_vocab_size": len(c.brand_vocab),
        "num_price_buckets": len(c.price_boundaries) + 2,
        **architecture_config(r),
        "purchase_head": purchase_head,
        "click_loss_weight": r.click_loss_weight,
        "purchase_loss_weight": r.purchase_loss_weight,
        "purchase_score_weight": r.purchase_score_weight,
        "dot_scale": 1.0 / cfg.retrieval.temperature,
        "numeric_features": numeric,
        "numeric_means": means,
        "numeric_stds": stds,
        "categorical_features": extras.categorical_sizes if extras else {},
        "learning_rate": r.learning_rate,
        "num_items": len(c),
        "name": "ranker",
    }


def _extras_to_json(extras: ExtraFeatureEncoder | None) -> dict:
    if extras is None:
        return {}
    return {
        "kinds": extras.kinds,
        "vocabularies": {n: v.values[1:] for n, v in extras.vocabularies.items()},
        "means": extras.means,
        "stds": extras.stds,
    }


def _extras_from_json(d: dict) -> ExtraFeatureEncoder | None:
    if not d:
        return None
    return ExtraFeatureEncoder(
        kinds=d["kinds"],
        vocabularies={n: Vocabulary(v) for n, v in d["vocabularies"].items()},
        means=d["means"],
        stds=d["stds"],
    )


def save_ranking_model(
    model: RankingModel, out: Path, extras: ExtraFeatureEncoder | None = None
) -> None:
    """`out/model.json` (constructor config, embedding size, extras' vocabularies) and
    `out/weights` (TF checkpoint).

    Args:
        model: RankingModel. A built ranker (called once, so its variables exist).
        out: Path. The model directory (`RunDir.ranker`, `RunDir.ranking_baseline`).
        extras: ExtraFeatureEncoder or None. The extra features' encoder, saved with it.

    Example:
        >>> save_ranking_model(ranker, run.ranker, extras)  # doctest: +SKIP
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": model.get_config(),
        "embedding_dim": model.embedding_dim,
        "extras": _extras_to_json(extras),
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    model.save_weights(str(out / "weights"))


def load_ranking_model(path: str | Path) -> tuple[RankingModel, ExtraFeatureEncoder | None]:
    """Rebuild a saved ranker and restore its weights; returns (model, extras encoder).

    Args:
        path: the model directory `save_ranking_model` wrote.

    Example:
        >>> ranker, extras = load_ranking_model(run.ranker)  # doctest: +SKIP
    """
    path = Path(path)
    meta_path = path / "model.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{meta_path} does not exist: train first (`tfrec train ranking CONFIG`)"
        )
    meta = json.loads(meta_path.read_text())
    model = RankingModel.from_config(meta["config"])
    model(random_candidates(model, 2, meta["embedding_dim"]))
    model.load_weights(str(path / "weights")).expect_partial()
    return model, _extras_from_json(meta.get("extras", {}))
