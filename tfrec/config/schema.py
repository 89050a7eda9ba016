"""The config's schema: one dataclass per section, with the rules of each field.

Every section is a dataclass. `tfrec.config.load_config(path)` reads a YAML file and builds the
objects, checking each key against the fields declared here: an unknown key, a wrong type or an
out-of-range value raises `ConfigError` naming the file, the key path and the value, e.g.
``configs/x.yaml: retrieval.temperature must be > 0, got -1``.

Constraints live next to the fields (`param(..., gt=0)`), so the rules a user reads in this file
are the rules that are enforced (by `tfrec.config.values`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from tfrec.config.fields import param
from tfrec.config.serving_schema import ServingConfig

Policy = Literal["error", "drop"]
# the stages of `tfrec run`, in their order (`tfrec.stages.STAGES` runs them)
STAGE_NAMES = ("data", "retrieval", "ranking", "tune", "evaluate", "shop", "export", "index")
StageName = Literal[STAGE_NAMES]


class ConfigError(ValueError):
    """A config file that does not fit the schema. The message names file, key path and value."""


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class TableSource:
    """One input table (items, events, judgments or users) in CSV, Parquet or JSON Lines."""

    path: str
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    # contract column name -> column name in the file, e.g. {item_id: StockCode}
    columns: dict[str, str] = param(default_factory=dict)
    encoding: str = "utf-8"


@dataclass
class ValidationPolicies:
    """Per rule: `error` stops with every violation listed; `drop` removes the rows and counts them."""

    missing_value: Policy = "error"
    duplicate_item_id: Policy = "error"
    empty_title: Policy = "error"
    negative_price: Policy = "error"
    bad_number: Policy = "error"
    bad_timestamp: Policy = "error"
    unknown_event: Policy = "error"
    unknown_item: Policy = "error"
    unknown_user: Policy = "error"
    bad_position: Policy = "error"
    bad_relevance: Policy = "error"
    # lines whose bytes do not decode in the table's declared encoding
    bad_encoding: Policy = "error"
    duplicate_user_id: Policy = "error"


@dataclass
class TransactionsCleaning:
    """Declared cleaning of a raw transaction log (one row per invoice line)."""

    # invoices whose id starts with this prefix are cancellations
    cancellation_prefix: Optional[str] = "C"
    drop_cancellations: bool = True
    drop_non_positive_quantity: bool = True
    drop_missing_user: bool = True
    drop_missing_title: bool = True
    drop_non_positive_price: bool = True
    # item ids that are not products (postage, manual adjustments, fees)
    non_product_item_ids: list[str] = param(default_factory=list)
    # a regular expression over item ids; matches are not products
    non_product_item_pattern: Optional[str] = None
    # how one title is chosen when the same item has several descriptions
    title_resolution: Literal["most_frequent", "latest"] = "most_frequent"


@dataclass
class TransactionsSource:
    """A raw transaction log mapped into the contract: items are derived from its lines."""

    path: str
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    # contract name -> file column: item_id, title, user_id, session_id, timestamp, quantity, price
    columns: dict[str, str] = param(default_factory=dict)
    encoding: str = "utf-8"
    event: str = "purchase"
    # optional extra item column (e.g. Country is per user, not per item; leave empty)
    cleaning: TransactionsCleaning = param(default_factory=TransactionsCleaning)


@dataclass
class SyntheticConfig:
    """The synthetic shop: sizes and seed. Same seed, same data."""

    num_items: int = param(2000, ge=50)
    num_users: int = param(1500, ge=10)
    num_days: int = param(60, ge=7)
    sessions_per_user: float = param(6.0, gt=0)
    search_session_share: float = param(0.6, ge=0, le=1)
    late_item_share: float = param(0.08, ge=0, lt=1)
    impressions_per_page: int = param(10, ge=1, le=100)
    # options that make the shop behave like real logs; their defaults give today's shop, byte
    # for byte (configs/hard_search.yaml and configs/ratings_nosession.yaml switch them on)
    query_vocab_mismatch: float = param(
        0.0,
        ge=0,
        le=1,
        help="probability that each word group of a search query (noun, attribute value) is "
        "typed with words titles do not use (synonyms, paraphrases such as 'for him', 'eu 44', "
        "'wicker'); 0 = queries as before",
    )
    popularity_exponent: float = param(
        0.9,
        gt=0,
        le=3,
        help="Zipf exponent of item exposure (weight = popularity rank ** -exponent); larger "
        "leaves more of the catalog never shown or clicked",
    )
    sessions: bool = param(
        True, help="write session ids; false = events without a session_id column (ratings log)"
    )
    impressions: bool = param(
        True,
        help="write impression events and positions; false = interactions only (clicks, carts, "
        "purchases), as in a ratings or order log",
    )
    seed: int = 42
    # rows per chunk when streaming a large shop to disk
    chunk_rows: int = param(200_000, ge=1000)
    format: Literal["parquet", "csv", "jsonl"] = "parquet"


@dataclass
class SplitConfig:
    """How held-out data is chosen. Features (histories, popularity) for an example only ever use
    events before it, and nothing from the held-out period or held-out users/queries is trained on."""

    # time: the last days are held out; user / query: a fraction of users / distinct queries is
    # held out (their events never feed training), the rest is split by time as well
    by: Literal["time", "user", "query"] = "time"
    holdout_fraction: float = param(0.2, gt=0, lt=1)
    test_days: int = param(7, ge=1)
    val_days: int = param(7, ge=0)
    # the history of a user used as features is cut at the start of the split being scored
    max_history: int = param(20, ge=1)


@dataclass
class DataConfig:
    source: Literal["synthetic", "files", "transactions"] = "synthetic"
    synthetic: SyntheticConfig = param(default_factory=SyntheticConfig)
    items: Optional[TableSource] = None
    events: Optional[TableSource] = None
    judgments: Optional[TableSource] = None
    users: Optional[TableSource] = None
    transactions: Optional[TransactionsSource] = None
    # event names beyond the built-in impression, click, add_to_cart, purchase
    extra_event_names: list[str] = param(default_factory=list)
    # config-declared extra item features: column name -> kind
    item_features: dict[str, Literal["categorical", "numeric", "text"]] = param(
        default_factory=dict
    )
    policies: ValidationPolicies = param(default_factory=ValidationPolicies)
    split: SplitConfig = param(default_factory=SplitConfig)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass
class TextConfig:
    """The BERT backbone and how it is trained."""

    # a local Hugging Face BERT directory, a hub name, or `minilm` for the packaged MiniLM
    checkpoint: str = "minilm"
    max_length: int = param(32, ge=4, le=512)
    pooling: Literal["mean", "cls"] = "mean"
    mode: Literal["frozen", "top_k_layers", "full"] = "frozen"
    # with mode=top_k_layers: how many of the top encoder layers are fine-tuned
    trainable_layers: int = param(2, ge=1)
    # query and item towers share one BERT (only meaningful when BERT is trained)
    share_backbone: bool = True
    # with mode=top_k_layers: the frozen bottom's hidden states of every item text and known
    # query are computed once before training, and each step runs only the trained top layers
    # (the same embeddings; not with the tpu strategy, which takes no ragged tables)
    layer_cache: bool = True
    # how those states are stored: float16 halves their memory (tokens x hidden x 2 bytes)
    layer_cache_dtype: Literal["float32", "float16"] = "float32"
    # where frozen-mode embeddings are cached (keyed by checkpoint and text)
    cache_dir: str = ".cache/tfrec/text"
    encode_batch_size: int = param(256, ge=1)


@dataclass
class RetrievalConfig:
    embedding_dim: int = param(128, ge=8)
    # hidden sizes of the projection MLP on top of the pooled text and features
    projection_layers: list[int] = param(default_factory=lambda: [256])
    id_embedding_dim: int = param(32, ge=4)
    temperature: float = param(0.05, gt=0)
    logq_correction: bool = True
    remove_accidental_hits: bool = True
    num_hard_negatives: Optional[int] = param(None, ge=1)
    use_user_id: bool = True
    use_history: bool = True
    # the towers keep the pretrained text similarity as an identity-initialised path beside the
    # learnt part, so the untrained model scores exactly as the zero-shot encoder (the output is
    # then text width + embedding_dim wide)
    text_residual: bool = True
    # a learnt id embedding per item with training interactions (collaborative signal); items
    # without any, and items added after training, take the content path alone
    item_id_embedding: bool = True
    # while training, the share of examples whose item id and user id embeddings are dropped,
    # so the content path learns to serve new items and unknown users
    id_dropout: float = param(0.1, ge=0, lt=1)
    # with item id embeddings: scores of items without training interactions (and items added
    # later) are multiplied by 1 + cold_boost; unset, the retrieval stage chooses it on the
    # validation split so that no slice (cold items included) falls below zero-shot
    cold_boost: Optional[float] = param(None, ge=0)
    learning_rate: float = param(1e-3, gt=0)
    optimizer: Literal["adam", "adagrad", "sgd"] = "adam"
    batch_size: int = param(256, ge=2)
    epochs: int = param(5, ge=1)
    early_stopping_patience: int = param(2, ge=0)
    price_buckets: int = param(10, ge=2)
    # how many user-history -> next-item examples are kept per query example (mix ratio)
    history_example_weight: float = param(1.0, ge=0)
    # BackupAndRestore saves every this many batches, so a killed run resumes mid-epoch
    backup_every_steps: int = param(50, ge=1)


@dataclass
class TrainingConfig:
    strategy: Literal["default", "mirrored", "multi_worker", "tpu", "parameter_server"] = "default"
    tpu_address: Optional[str] = None
    # parameter_server: variables of at least this many bytes (large id embedding tables) are
    # split into shards this large or more, at most one per parameter server; others stay whole
    shard_min_bytes: int = param(256 << 10, ge=1)
    steps_per_execution: int = param(1, ge=1)
    # compile each train step with XLA, as a TPU does; with it (as with tpu) every shape is
    # static (`static_shapes`): a CPU or GPU run checks the graph a TPU gets
    jit_compile: bool = False
    mixed_precision: bool = False
    seed: int = 42
    # Keras fit verbosity: 1 = progress bar, 2 = one line per epoch, 0 = silent; unset: a
    # progress bar on a terminal, one line per epoch in logs (CI, nohup, files)
    verbose: Optional[int] = param(None, ge=0, le=2)

    @property
    def static_shapes(self) -> bool:
        """Static shapes for a TPU or XLA: text padded to `text.max_length`, `drop_remainder`
        batches, no ragged layer cache, no strings on the device."""
        return self.strategy == "tpu" or self.jit_compile

    @property
    def fit_verbose(self) -> int:
        """The verbosity `fit` gets: the configured one, else chosen by where output goes."""
        if self.verbose is not None:
            return self.verbose
        return 1 if sys.stdout.isatty() else 2


@dataclass
class EvaluationConfig:
    ks: list[int] = param(default_factory=lambda: [10, 50, 100], ge=1, min_len=1)
    # cap on the number of evaluated queries / users (0 = all) to bound time
    max_queries: int = param(0, ge=0)
    max_users: int = param(0, ge=0)
    baselines: list[Literal["popularity", "bm25", "zero_shot", "hybrid", "cooccurrence"]] = param(
        default_factory=lambda: ["popularity", "bm25", "zero_shot", "hybrid", "cooccurrence"],
        help="models evaluated beside the trained one; bm25 and hybrid (RRF of BM25 and the "
        "trained model, its weight chosen on the validation searches) are search only; "
        "cooccurrence (item-kNN over items in the same training sessions) is feed only",
    )


@dataclass
class RankingConfig:
    """The CTR ranker (tfrec/models/ranking.py): DCN-v2 over frozen tower embeddings, item and context
    features, with click and purchase-given-click heads."""

    cross_layers: int = param(2, ge=0)
    # low-rank cross layers: W = U V with this inner size (null = full rank)
    projection_dim: Optional[int] = param(16, ge=1)
    deep_layers: list[int] = param(default_factory=lambda: [128, 64], ge=1)
    structure: Literal["stacked", "parallel"] = "parallel"
    feature_dim: int = param(16, ge=1)
    # a learnt per-item embedding of this size (0 = none): what the text towers cannot see
    item_id_embedding_dim: int = param(16, ge=0)
    # positions above this share one bucket; every candidate is scored at serving_position
    max_position: int = param(20, ge=1)
    serving_position: int = param(1, ge=1)
    click_loss_weight: float = param(1.0, ge=0)
    purchase_loss_weight: float = param(1.0, ge=0)
    # w in the ordering score p_click * (1 + w * p_purchase_given_click)
    purchase_score_weight: float = param(1.0, ge=0)
    learning_rate: float = param(1e-3, gt=0)
    batch_size: int = param(512, ge=2)
    epochs: int = param(5, ge=1)
    early_stopping_patience: int = param(2, ge=0)
    backup_every_steps: int = param(100, ge=1)
    # extra features: an events column (read from the impression's row) or an items column
    extra_features: dict[str, Literal["numeric", "categorical"]] = param(default_factory=dict)
    # per training search, this many retrieval candidates it did not show are added as
    # negatives in position bucket 0, "retrieved, not shown" (0 = train on shown items only:
    # an item never shown was never examined, so its missing click says little)
    unshown_negatives: int = param(0, ge=0)
    # candidates retrieved per search (unshown negatives, end-to-end evaluation)
    candidates: int = param(100, ge=10)
    # cap on evaluated held-out searches (0 = all)
    max_eval_searches: int = param(0, ge=0)
    # --- learning to rank from graded judgments (tfrec/models/listwise.py, cross_encoder.py) ---
    judgments: Literal["auto", "off", "on"] = param(
        "auto",
        help="train a ranker on the judgments table: auto = when the run has one, on = require "
        "it, off = never",
    )
    judgment_model: Literal["listwise", "cross_encoder", "both"] = param(
        "listwise",
        help="listwise = an MLP over the towers' embeddings trained with softmax cross-entropy "
        "over each query's list; cross_encoder = BERT over 'query [SEP] title' re-ranking the "
        "top cross_encoder_candidates; both",
    )
    judgment_candidates: int = param(
        50,
        ge=10,
        help="retrieved candidates per query the listwise ranker re-ranks; in training lists "
        "the unjudged ones among them are relevance 0",
    )
    judgment_max_judged: int = param(
        50, ge=1, help="judged items per training list (a seeded sample when a query has more)"
    )
    judgment_features: list[Literal["bm25", "zero_shot"]] = param(
        default_factory=lambda: ["bm25", "zero_shot"],
        help="per (query, item) scores the listwise ranker reads beside the towers' embeddings "
        "and the retrieval logit: BM25 and the zero-shot encoder's cosine",
    )
    judgment_val_fraction: float = param(
        0.1, gt=0, lt=1, help="share of judged queries held out for validation (early stopping)"
    )
    judgment_test_fraction: float = param(
        0.2, gt=0, lt=1, help="share of judged queries held out for the test table"
    )
    judgment_max_train_queries: int = param(
        2000, ge=0, help="cap on training queries (0 = all), a seeded sample"
    )
    judgment_max_eval_queries: int = param(
        500, ge=0, help="cap on validation and on test queries each (0 = all), a seeded sample"
    )
    judgment_hidden_layers: list[int] = param(
        default_factory=lambda: [64, 32], ge=1, help="the listwise ranker's MLP hidden sizes"
    )
    judgment_epochs: int = param(
        30, ge=1, help="the most listwise ranker epochs (early stopping on the val lists' loss)"
    )
    judgment_batch_size: int = param(32, ge=1, help="query lists per listwise training step")
    judgment_learning_rate: float = param(1e-3, gt=0, help="listwise ranker Adam learning rate")
    judgment_patience: int = param(2, ge=0, help="listwise early-stopping patience (epochs)")
    cross_encoder_candidates: int = param(
        20, ge=2, help="top retrieved candidates per query the cross-encoder scores (train, test)"
    )
    cross_encoder_max_length: int = param(
        48, ge=8, le=512, help="tokens of one 'query [SEP] title' pair, [CLS] and [SEP]s included"
    )
    cross_encoder_query_length: int = param(
        12, ge=3, help="of those, the most the query takes ([CLS] and its [SEP] included)"
    )
    cross_encoder_trainable_layers: int = param(
        2, ge=0, help="top BERT layers fine-tuned (0 = BERT frozen, only the score head trains)"
    )
    cross_encoder_epochs: int = param(1, ge=1, help="cross-encoder epochs")
    cross_encoder_train_queries: int = param(
        200, ge=1, help="training queries the cross-encoder sees (a seeded subset)"
    )
    cross_encoder_batch_lists: int = param(2, ge=1, help="query lists per cross-encoder step")
    cross_encoder_learning_rate: float = param(3e-4, gt=0, help="cross-encoder Adam rate")


@dataclass
class ExportConfig:
    """TF Serving exports: `export/<model_name>/<version>/` SavedModels and `models.config`."""

    # the model with stock TensorFlow ops only (query/item encoders, brute-force retrieval)
    model_name: str = "tfrec"
    # the model whose `retrieval` signature runs the ScaNN index in the graph
    scann_model_name: str = "tfrec_scann"
    # the largest `k` the retrieval signatures accept
    max_k: int = param(1000, ge=1)
    # versions kept on disk (older ones are deleted after a successful export)
    keep_versions: int = param(3, ge=1)


@dataclass
class IndexConfig:
    """The item index: its kind (ScaNN on CPU, exact or `tf.math.approx_max_k` on a GPU/TPU)
    and its parameters, which follow the catalog size and the target recall."""

    kind: Literal["auto", "scann", "exact", "approx_max_k"] = param(
        "auto",
        help="scann: ScaNN tree + AH on CPU (exact ScaNN brute force below brute_force_below); "
        "exact: matmul + top_k with the embeddings on the device; approx_max_k: matmul + "
        "tf.math.approx_max_k (recall_target = target_recall) on the device; auto: with a GPU "
        "or TPU visible to TensorFlow, exact below brute_force_below items and approx_max_k "
        "from there, without one scann (tfrec.index.kinds.resolve_kind)",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = param(
        "float32",
        help="the stored item embeddings of the exact and approx_max_k kinds (queries are cast "
        "to it; scores come from a matmul in it); the build prints the recall@10 lost against "
        "float32. ScaNN indexes float32",
    )
    # ScaNN: the build picks the fewest leaves searched (then re-scored candidates) whose
    # recall@10 reaches it (tfrec.index.search_tuner); approx_max_k: its recall_target
    target_recall: float = param(0.95, gt=0, le=1)
    # catalogs smaller than this are searched exactly (ScaNN brute force; `auto` on a GPU/TPU:
    # the exact kind)
    brute_force_below: int = param(20000, ge=0)
    # neighbours returned by default
    num_neighbors: int = param(100, ge=1)
    # asymmetric hashing: dimensions per 4-bit code and the anisotropic loss threshold
    dims_per_block: int = param(2, ge=1)
    anisotropic_threshold: float = param(0.2, ge=0)
    # candidates re-scored exactly after AH scoring (0: chosen from num_neighbors)
    reorder: int = param(0, ge=0)
    # queries used to measure recall@10 against brute force
    eval_queries: int = param(1000, ge=10)
    seed: int = 42


@dataclass
class SearchParam:
    """One entry of a tuning search space: `choice` over `values`, or `int` / `float` from `min`
    to `max` with an optional `step` and `sampling` (linear or log). Checked on load by
    `tfrec.config.search_space`, searched by `tfrec.tuning`."""

    type: Literal["choice", "int", "float"]
    values: Optional[list[Any]] = None
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    sampling: Literal["linear", "log", "reverse_log"] = "linear"


@dataclass
class TuningConfig:
    """`tfrec tune`: a Keras Tuner search over config values. Each trial trains the ordinary
    model of `model` with a copy of the config whose search-space keys are set."""

    model: Literal["retrieval", "ranking"] = "retrieval"
    tuner: Literal["random", "bayesian", "hyperband"] = "random"
    # an epoch-log metric; null: val_recall_at_100 (retrieval) or val_click_auc (ranking)
    objective: Optional[str] = None
    direction: Literal["max", "min"] = "max"
    # dotted config key (e.g. retrieval.temperature) -> range; null: the model's default space
    search_space: Optional[dict[str, SearchParam]] = None
    max_trials: int = param(10, ge=1)
    executions_per_trial: int = param(1, ge=1)
    # epochs per trial (hyperband: the most epochs a trial gets)
    epochs: int = param(3, ge=1)
    early_stopping_patience: int = param(1, ge=0)
    hyperband_factor: int = param(3, ge=2)
    max_consecutive_failed_trials: int = param(3, ge=1)
    # Keras Tuner's trial storage is directory/project_name (null directory: runs/<name>/tuning)
    directory: Optional[str] = None
    project_name: str = "search"
    # false: a search whose project exists resumes it; true: starts over
    overwrite: bool = False
    # also train the config as given for the same epochs and print it next to the best trial
    compare_with_default: bool = True
    seed: int = 42


@dataclass
class ShopConfig:
    """The shop capabilities (tfrec/shop/): similar-item weights per dimension, MMR, session
    intent, complementary items and bundles, and the bounds of their evaluation (`shop` stage)."""

    # similar items: weight per dimension (semantic, behavioural, attribute)
    similar_weights: dict[str, float] = param(
        default_factory=lambda: {"semantic": 0.4, "behavioural": 0.4, "attribute": 0.2}, ge=0
    )
    # MMR relevance weight of the served home feed (1.0 = no re-ranking) and the values the
    # report's accuracy/diversity plot sweeps
    mmr_lambda: float = param(1.0, ge=0, le=1)
    mmr_lambdas: list[float] = param(
        default_factory=lambda: [1.0, 0.9, 0.8, 0.7, 0.5, 0.3], ge=0, le=1, min_len=1
    )
    mmr_candidates: int = param(100, ge=10)
    # session intent: blend weight of the session items' mean embedding (0 = history input only)
    session_weight: float = param(0.5, ge=0, le=1)
    # complementary items: push same-leaf-category and near-duplicate (substitute) items down
    prefer_other_category: bool = True
    same_category_factor: float = param(0.3, ge=0, le=1)
    substitute_similarity: float = param(0.9, gt=0, le=1)
    bundle_size: int = param(3, ge=1)
    retriever: Literal["dense", "hybrid"] = param(
        "dense",
        help="search candidates: dense = the two-tower model; hybrid = reciprocal-rank fusion "
        "of the BM25 and the dense top hybrid_depth (tfrec/shop/hybrid.py); /search?retriever= "
        "overrides it per request",
    )
    hybrid_weight: float = param(
        0.5,
        ge=0,
        le=1,
        help="hybrid search: the BM25 share of the fusion, (1 - w) / (60 + dense rank) + "
        "w / (60 + BM25 rank); 0 = dense order, 1 = BM25 order (the evaluate stage prints the "
        "weight the validation searches prefer)",
    )
    hybrid_depth: int = param(
        200, ge=1, help="hybrid search: candidates each retriever brings to the fusion"
    )
    # evaluation bounds (0 = all)
    max_eval_instances: int = param(3000, ge=0)
    max_similar_anchors: int = param(300, ge=10)


@dataclass
class Config:
    name: str = "quickstart"
    run_dir: Optional[str] = None
    seed: int = 42
    stages: list[StageName] = param(default_factory=lambda: ["data", "retrieval", "evaluate"])
    data: DataConfig = param(default_factory=DataConfig)
    text: TextConfig = param(default_factory=TextConfig)
    retrieval: RetrievalConfig = param(default_factory=RetrievalConfig)
    training: TrainingConfig = param(default_factory=TrainingConfig)
    ranking: RankingConfig = param(default_factory=RankingConfig)
    evaluation: EvaluationConfig = param(default_factory=EvaluationConfig)
    export: ExportConfig = param(default_factory=ExportConfig)
    index: IndexConfig = param(default_factory=IndexConfig)
    serving: ServingConfig = param(default_factory=ServingConfig)
    tuning: TuningConfig = param(default_factory=TuningConfig)
    shop: ShopConfig = param(default_factory=ShopConfig)
    # the file the config was read from (set by load_config)
    source_path: Optional[str] = param(None, help="internal")

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir or f"runs/{self.name}")
