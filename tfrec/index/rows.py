"""What every item index kind shares: its rows (item ids and float32 embeddings), search by id,
recall against exact search, and the insert-or-update of rows that cold start needs.

A kind (`tfrec.index.scann_index.ItemIndex`, `tfrec.index.device_index.DeviceIndex`) subclasses
`IndexRows` and defines `search_positions(queries, k) -> (positions [n, k], scores [n, k])`.
"""

from __future__ import annotations

import numpy as np

from tfrec.index.exact import exact_top_k, recall_against
from tfrec.index.params import RECALL_K


class IndexRows:
    """Item ids and embeddings of an index, and what follows from them alone.

    Example:
        >>> class Exact(IndexRows):
        ...     def search_positions(self, queries, k):
        ...         top = exact_top_k(self.embeddings, queries, k)
        ...         return top, np.take_along_axis(queries @ self.embeddings.T, top, axis=1)
        >>> index = Exact()
        >>> index.item_ids, index.embeddings = ["a", "b"], np.eye(2, dtype=np.float32)
        >>> index.search(np.array([[0.0, 1.0]], np.float32), 1)[0]
        [['b']]
    """

    item_ids: list[str]
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)

    def search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """Item ids and scores of the top-k items of each query."""
        positions, scores = self.search_positions(queries, k)
        return [[self.item_ids[p] for p in row] for row in positions], scores

    def recall(
        self, queries: np.ndarray, exact: np.ndarray | None = None, k: int = RECALL_K
    ) -> float:
        """Recall@k of this index against exact float32 search on `queries` (ties count)."""
        if exact is None:
            exact = exact_top_k(self.embeddings, queries, k)
        approx, _ = self.search_positions(queries, exact.shape[1])
        return recall_against(approx, exact, queries, self.embeddings)

    def _upsert_rows(self, item_ids: list[str], embeddings: np.ndarray) -> tuple[np.ndarray, int]:
        """Insert new items (appended) or update existing ones in `item_ids` / `embeddings`;
        returns (the checked float32 embeddings given, how many items were new)."""
        embeddings = np.ascontiguousarray(np.atleast_2d(embeddings), dtype=np.float32)
        if embeddings.shape != (len(item_ids), self.embeddings.shape[1]):
            raise ValueError(
                f"embeddings must be [{len(item_ids)}, {self.embeddings.shape[1]}]. "
                f"Received: shape {embeddings.shape}"
            )
        position = {item: i for i, item in enumerate(self.item_ids)}
        rows = list(self.embeddings)
        new = 0
        for item, emb in zip(item_ids, embeddings, strict=True):
            item = str(item)
            if item in position:
                rows[position[item]] = emb
            else:
                position[item] = len(self.item_ids)
                self.item_ids.append(item)
                rows.append(emb)
                new += 1
        self.embeddings = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        return embeddings, new
