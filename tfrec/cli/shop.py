"""The `tfrec recommend | similar | complementary | search` commands: the `ShopContext` of a
trained run (every event of the log: the serving state), the capability, the result printed as a
table or as JSON (`--json`, the same structure the server returns)."""

from __future__ import annotations

import json

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.shop.complementary import bundle, complementary_items
from tfrec.shop.feed import home_feed, search
from tfrec.shop.similar import similar_items
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.shop_context import shop_context_for_run


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _echo_items(result: dict, extra=(), explain: bool = False) -> None:
    for row in result["items"]:
        cols = [f"{row['rank']:>3}", f"{row['item_id']:<12}", f"{row['title'][:60]:<60}"]
        if "score" in row:
            cols.append(f"{row['score']:.4f}")
        cols += [f"{name}={row[name]}" for name in extra if name in row]
        echo("  ".join(cols))
        if "contributions" in row:
            echo(
                "       "
                + ", ".join(f"{d} {v:.3f}" for d, v in row["contributions"].items())
                + "  (raw: "
                + ", ".join(f"{d} {v:.3f}" for d, v in row["scores"].items())
                + ")"
            )
        if explain and "explanation" in row:
            for reason in row["explanation"]["reasons"]:
                echo(f"       - {reason}")


def run_shop_command(cfg: Config, command: str, args) -> int:
    """Answer one shop command on the run of `cfg` and print the result.

    Args:
        cfg: the run's config (`run_dir`, the `shop` section's defaults).
        command: `recommend`, `similar`, `complementary` or `search`.
        args: the parsed command line (`user_id`, `item_id`, `query`, `k`, `json`, ...).

    Returns:
        The exit status (0).

    Example:
        >>> run_shop_command(cfg, "similar", build_parser().parse_args(  # doctest: +SKIP
        ...     ["similar", "configs/quickstart.yaml", "P000123"]))
    """
    ctx = shop_context_for_run(RunArtifacts(cfg, RunDir(cfg.run_path)), splits=None)
    s = cfg.shop
    if command == "recommend":
        result = home_feed(
            ctx,
            args.user_id,
            session_items=_split(args.session_items),
            session_queries=_split(args.session_queries),
            k=args.k,
            mmr_lambda=s.mmr_lambda if args.mmr_lambda is None else args.mmr_lambda,
            session_weight=s.session_weight,
            explain=True,
        )
        header = (
            f"home feed for {result['user_id'] or 'an anonymous visitor'} "
            f"(source: {result['source']})"
        )
        if result["unknown_session_items"]:
            header += (
                f"; unknown session items skipped: {', '.join(result['unknown_session_items'])}"
            )
    elif command == "similar":
        weights = dict(s.similar_weights)
        for pair in _split(args.weights):
            name, _, value = pair.partition("=")
            weights[name.strip()] = float(value)
        result = similar_items(ctx, args.item_id, k=args.k, weights=weights)
        header = f"similar to {result['item']['item_id']} {result['item']['title']!r}; weights {result['weights']}"
    elif command == "complementary":
        cart = [args.item_id, *_split(args.cart)]
        result = complementary_items(
            ctx,
            cart,
            k=args.k,
            prefer_other_category=s.prefer_other_category,
            same_category_factor=s.same_category_factor,
            substitute_similarity=s.substitute_similarity,
        )
        result["bundle"] = bundle(
            ctx, cart, s.bundle_size, s.same_category_factor, s.substitute_similarity
        )
        header = f"frequently bought with {', '.join(cart)} (evidence: {result['source']})"
    else:
        result = search(
            ctx,
            args.query,
            args.user_id,
            _split(args.session_items),
            k=args.k,
            explain=True,
            retriever=getattr(args, "retriever", None) or s.retriever,
            hybrid_weight=s.hybrid_weight,
            hybrid_depth=s.hybrid_depth,
        )
        header = f"search {args.query!r} ({result['retriever']})"
    if args.json:
        echo(json.dumps(result, indent=2, default=float))
        return 0
    echo(header)
    extra = ("copurchase_count", "coview_count", "evidence") if command == "complementary" else ()
    _echo_items(result, extra, explain=True)
    if command == "complementary":
        b = result["bundle"]
        echo(f"bundle (total price {b['total_price']}):")
        _echo_items(b, ("goes_with", "evidence"))
    return 0
