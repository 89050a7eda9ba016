"""The synthetic shop: an embedded e-commerce catalog with users, search and browse logs.

`tfrec.data.synthetic.writer.generate_shop(cfg, out_dir)` writes four tables in the data contract of `tfrec.data.schema`
(items, events, judgments, users) so the main job runs anywhere without outside data.

How the shop behaves (and why models can learn from it):

- A three-level taxonomy (10 departments, 23 mid-level categories, 55 leaves) with invented
  brands, per-leaf attributes (colour, size, material, capacity ...), natural English titles and
  descriptions, lognormal prices around a per-leaf median and Zipf-like item popularity.
- Users have latent tastes: a few preferred leaves, preferred brands, a favourite colour, their
  own gender and sizes, and a price sensitivity. Tastes persist, so a user's history predicts
  their next items.
- Search sessions issue queries written the way people type them: head queries ("headphones"),
  attribute queries ("navy running shoes", "running shoes size 10"), tail queries with brand
  and attributes, synonyms ("sneakers", "earbuds", "skillet") and ~10% typos. The results come
  from an imperfect engine: it knows canonical names, only some synonyms and half the typos,
  over-shows popular items and adds lexical noise. Browse (home feed) sessions show items from
  the user's taste plus popular items.
- Clicks follow a position-based model: examination 1/position^0.7 times an attractiveness
  driven by the *true* intent (the leaf and attributes behind the query, not its words) and by
  the user's taste, brand, size and price sensitivity. Clicks lead to add-to-cart and purchases.
- `late_item_share` of the items launch in the last 10 days and are never shown before launch.
- The judgments table holds the graded truth for every issued query: 3 = the intended leaf with
  every asked attribute (and brand), 2 = the intended leaf, 1 = the same mid-level category.

Options that make the shop behave like real logs (all off by default; with the defaults the shop
is byte-identical to the shop generated before they existed, and a switched-on option draws from
its own random stream): `query_vocab_mismatch` (each query word group typed with words titles
do not use, `paraphrases`), `popularity_exponent` (a steeper exposure skew leaves most of a large
catalog unclicked), `sessions: false` (no `session_id` column) and `impressions: false` (clicks,
carts and purchases only, no positions). configs/hard_search.yaml and
configs/ratings_nosession.yaml use them.

Generation is deterministic (same config, same bytes) and streams to disk in chunks of
`cfg.chunk_rows` rows: events are simulated in fixed blocks of users with their own random
streams, so the content does not depend on `chunk_rows`.

Modules: `taxonomy` (the word lists: attributes, leaves, brands), `catalog` (items as arrays,
titles and descriptions), `users` (latent tastes), `queries` (query texts, typos),
`paraphrases` (query words titles do not use, for `query_vocab_mismatch`),
`sessions` (sessions, engine results, clicks and the funnel), `judgments` (graded truth),
`writer` (the four tables, `generate_shop`), `benchmark` and `summary`.

Example:

    from tfrec.config import SyntheticConfig
    from tfrec.data.synthetic.writer import generate_shop

    paths = generate_shop(SyntheticConfig(num_items=1000, num_users=300), "/tmp/shop")
    # {"items": Path("/tmp/shop/items.parquet"), "events": ..., "judgments": ..., "users": ...}
"""
