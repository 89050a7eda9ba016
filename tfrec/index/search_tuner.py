"""The cheapest ScaNN search setting that meets the target recall@10.

`tune_search` probes `leaves_to_search` both ways from the starting value `choose_params`
gives: when the start falls short it doubles until a setting meets the target, when the start
already meets it the lower bound is 0; then it bisects between the highest setting known to
fall short and the lowest known to meet the target. With the leaves fixed it bisects the
exactly re-scored AH candidates (`reorder`) down the same way (not below `num_neighbors`, to
within an eighth of the range: a few candidates more or less cost next to nothing), unless the
config fixes `reorder`. Every probe is measured on the held-out query sample (recall@10 against brute force
and batched queries/s) and printed; the setting is chosen by recall alone (fewer leaves and
fewer re-scored candidates are never more work), queries/s is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tfrec.core.log import echo
from tfrec.index.exact import recall_against


@dataclass
class Probe:
    """One measured search setting.

    Args:
        leaves_to_search: leaves of the tree searched per query.
        reorder: AH candidates re-scored exactly.
        recall_at_10: recall@10 against brute force on the query sample.
        qps: batched queries per second on the query sample.

    Example:
    ```python
    Probe(leaves_to_search=20, reorder=400, recall_at_10=0.97, qps=5000.0).recall_at_10
    ```
    """

    leaves_to_search: int
    reorder: int
    recall_at_10: float
    qps: float


def measure(index, queries: np.ndarray, exact: np.ndarray, leaves: int, reorder: int) -> Probe:
    """Set `index.params` to (`leaves`, `reorder`) and measure recall@10 and queries/s.

    Args:
        index: a scann-mode `ItemIndex` (its `params` are changed in place).
        queries: `[B, D]` float32 query sample.
        exact: `[B, k]` exact top-k row positions of `queries` (`exact_top_k`).
        leaves: leaves to search.
        reorder: AH candidates re-scored exactly.

    Returns:
        the measured `Probe`.

    Example:
    ```python
    probe = measure(index, queries, exact_top_k(index.embeddings, queries, 10), 20, 400)
    ```
    """
    index.params.leaves_to_search = int(leaves)
    index.params.reorder = int(reorder)
    t0 = time.perf_counter()
    positions, _ = index.search_positions(queries, exact.shape[1])
    seconds = max(time.perf_counter() - t0, 1e-9)
    recall = recall_against(positions, exact, queries, index.embeddings)
    probe = Probe(int(leaves), int(reorder), recall, len(queries) / seconds)
    echo(
        f"[index]   probe leaves_to_search {probe.leaves_to_search:>5}, reorder "
        f"{probe.reorder:>5}: recall@10 {probe.recall_at_10:.4f}, {probe.qps:,.0f} q/s"
    )
    return probe


def _bisect(low: int, high: int, meets, resolution: int = 1) -> int:
    """The lowest value in (low, high] that meets, to within `resolution`, given that `high`
    meets and `low` does not (recall rises with the value, so the search is a bisection)."""
    while high - low > max(1, resolution):
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    return high


def tune_search(
    index, queries: np.ndarray, exact: np.ndarray, target: float, tune_reorder: bool = True
) -> Probe:
    """Find the fewest leaves (then the fewest re-scored candidates) meeting `target`.

    Args:
        index: a scann-mode `ItemIndex` whose `params` hold the starting setting; they are left
            at the chosen setting.
        queries: `[B, D]` float32 held-out query sample.
        exact: `[B, k]` exact top-k row positions of `queries`.
        target: the recall@10 to reach (`cfg.index.target_recall`).
        tune_reorder: also lower `reorder` (False when the config fixes it).

    Returns:
        the `Probe` of the chosen setting. When even every leaf falls short of the target,
        all leaves are searched with the starting `reorder` (the best recall there is).

    Example:
    ```python
    chosen = tune_search(index, queries, exact, target=0.95)
    chosen.leaves_to_search, chosen.recall_at_10, chosen.qps
    ```
    """
    params = index.params
    num_leaves, reorder = params.num_leaves, params.reorder
    probes: dict[tuple[int, int], Probe] = {}

    def probe(leaves: int, rerank: int) -> Probe:
        if (leaves, rerank) not in probes:
            probes[leaves, rerank] = measure(index, queries, exact, leaves, rerank)
        return probes[leaves, rerank]

    start = min(max(1, params.leaves_to_search), num_leaves)
    echo(
        f"[index] tuning leaves_to_search (of {num_leaves}) for recall@10 >= {target} on "
        f"{len(queries)} queries, from {start}"
    )
    low, high = 0, start
    if probe(start, reorder).recall_at_10 < target:
        low, high = start, None
        while high is None:
            if low >= num_leaves:
                chosen = probe(num_leaves, reorder)
                echo(
                    f"[index] every leaf searched reaches recall@10 {chosen.recall_at_10:.4f}, "
                    f"short of the target {target}: raise `index.reorder` or lower the target"
                )
                params.leaves_to_search, params.reorder = num_leaves, reorder
                return chosen
            candidate = min(num_leaves, 2 * low)
            if probe(candidate, reorder).recall_at_10 >= target:
                high = candidate
            else:
                low = candidate
    leaves = _bisect(low, high, lambda n: probe(n, reorder).recall_at_10 >= target)
    rerank = reorder
    # a search of k neighbours re-scores max(reorder, k) candidates; below num_neighbors the
    # default-depth searches (unmeasured here) would lose their reordering margin
    floor = min(reorder, max(exact.shape[1], params.num_neighbors))
    if tune_reorder and reorder > floor and probe(leaves, floor).recall_at_10 < target:
        rerank = _bisect(
            floor,
            reorder,
            lambda r: probe(leaves, r).recall_at_10 >= target,
            resolution=max(1, (reorder - floor) // 8),
        )
    elif tune_reorder and reorder > floor:
        rerank = floor
    chosen = probe(leaves, rerank)
    params.leaves_to_search, params.reorder = chosen.leaves_to_search, chosen.reorder
    first = probes[start, reorder]
    echo(
        f"[index] chose leaves_to_search {chosen.leaves_to_search}, reorder {chosen.reorder}: "
        f"recall@10 {chosen.recall_at_10:.4f}, {chosen.qps:,.0f} q/s (start {start} leaves, "
        f"reorder {reorder}: recall@10 {first.recall_at_10:.4f}, {first.qps:,.0f} q/s; "
        f"{len(probes)} probes)"
    )
    return chosen
