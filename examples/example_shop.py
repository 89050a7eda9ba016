"""The shop every example trains on: a synthetic shop, validated and prepared by tfrec.

The examples take the same options:

    --size tiny|small      tiny: 80 items, 60 users (seconds; what `make test` runs);
                           small (the default): 1,000 items, 800 users, 30 days
    --bert DIR|minilm      the BERT checkpoint of the text towers (default: the packaged
                           all-MiniLM-L6-v2; any local Hugging Face BERT directory works)
    --workdir DIR          where the shop, checkpoints and exports go (default:
                           runs/examples/<script name>)

each with an environment variable as its default (`TFREC_EXAMPLE_SIZE`, `TFREC_EXAMPLE_BERT`,
`TFREC_EXAMPLE_DIR`), so a test (or a notebook) can shrink them all at once.

Example:

```python
from example_shop import example_args, example_shop

args = example_args("two-tower retrieval")
cfg, data, shop = example_shop(args)
```
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import tfrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from tfrec.config import Config, SplitConfig
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData, prepare_data
from tfrec.data.sources import ShopData, load_shop
from tfrec.data.synthetic.writer import generate_shop

SIZES = {
    "tiny": {"num_items": 80, "num_users": 60, "num_days": 20, "sessions_per_user": 6.0},
    "small": {"num_items": 1000, "num_users": 800, "num_days": 30, "sessions_per_user": 6.0},
}


def example_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the common options (`--size`, `--bert`, `--workdir`, `--epochs`).

    Args:
        description: str. The script's one-line description for `--help`.
        argv: list of str or None. The arguments (None: `sys.argv[1:]`).

    Example:
        >>> example_args("demo", ["--size", "tiny"]).size
        'tiny'
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--size", choices=sorted(SIZES), default=os.environ.get("TFREC_EXAMPLE_SIZE", "small")
    )
    parser.add_argument("--bert", default=os.environ.get("TFREC_EXAMPLE_BERT", "minilm"))
    parser.add_argument("--workdir", default=os.environ.get("TFREC_EXAMPLE_DIR"))
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs")
    args = parser.parse_args(argv)
    name = Path(parser.prog).stem
    args.workdir = Path(args.workdir or Path("runs") / "examples") / name
    return args


def example_config(args: argparse.Namespace) -> Config:
    """The config of the example run: synthetic shop of `args.size`, BERT `args.bert`.

    Example:
        >>> cfg = example_config(example_args("demo", ["--size", "tiny"]))
        >>> cfg.data.synthetic.num_items
        80
    """
    cfg = Config(name=args.workdir.name, run_dir=str(args.workdir / "run"))
    for key, value in SIZES[args.size].items():
        setattr(cfg.data.synthetic, key, value)
    cfg.data.split = SplitConfig(test_days=3, val_days=3)
    cfg.text.checkpoint = args.bert
    cfg.text.cache_dir = str(args.workdir / "text_cache")
    cfg.text.max_length = 16 if args.size == "tiny" else 32
    cfg.retrieval.embedding_dim = 16 if args.size == "tiny" else 64
    cfg.retrieval.projection_layers = [32] if args.size == "tiny" else [128]
    cfg.retrieval.id_embedding_dim = 8 if args.size == "tiny" else 32
    cfg.retrieval.batch_size = 32 if args.size == "tiny" else 128
    cfg.retrieval.epochs = args.epochs or (1 if args.size == "tiny" else 5)
    cfg.ranking.deep_layers = [16] if args.size == "tiny" else [64, 32]
    cfg.ranking.batch_size = 64 if args.size == "tiny" else 256
    cfg.ranking.epochs = args.epochs or (1 if args.size == "tiny" else 5)
    cfg.training.verbose = 2
    return cfg


def example_shop(args: argparse.Namespace) -> tuple[Config, PreparedData, ShopData]:
    """Generate the synthetic shop (once), read and validate it through the data contract and
    prepare it; returns the config, the `PreparedData` the layers and datasets take, and the
    validated tables (`shop.items`, `shop.events`).

    Example:
        >>> cfg, data, shop = example_shop(example_args("demo", ["--size", "tiny"]))  # doctest: +SKIP
    """
    cfg = example_config(args)
    run = RunDir(cfg.run_path)
    if not (run.raw / "items.parquet").exists():
        generate_shop(cfg.data.synthetic, run.raw, progress=False)
    shop = load_shop(cfg.data, base_dir=Path.cwd(), synthetic_dir=run.raw)
    data = prepare_data(
        shop.items,
        shop.events,
        cfg.data.split,
        cfg.retrieval.price_buckets,
        cfg.data.item_features,
    )
    print(
        f"shop: {len(data.catalog) - 1} items, "
        f"{int((data.retrieval.split == 'train').sum())} training examples"
    )
    return cfg, data, shop
