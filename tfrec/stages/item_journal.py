"""Folding the live-item journal into the run's index: what `tfrec export` does first.

Items added while serving (`POST /v1/items`) are journaled in `RunDir.item_journal`
(`tfrec.serving.live_items`). `tfrec export` (and the `export` stage of `tfrec run`, and
`tfrec index add --export`) first upserts the journal's items into the run's index exactly as
`tfrec index add` does (embedded by the trained item tower, rows kept in
`RunDir.added_items`), so the version it exports holds them in its ScaNN index and its
`item_ids`. The journal itself is kept: a running server may be appending to it, and it replays
it at its next start (re-adding an item that the version already holds is an update to the
same vector). Only complete records are folded; a record being written right now is left for
the next export.
"""

from __future__ import annotations

import pandas as pd

from tfrec.core.journal import latest_entries, read_journal
from tfrec.core.log import echo
from tfrec.data.report import DataReport, DataValidationError
from tfrec.data.validation import validate_items
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.index import add_items


def journal_item_rows(art: RunArtifacts) -> pd.DataFrame | None:
    """The journal's items as contract item rows, validated (None when it holds none).

    Args:
        art: the run's artifacts (`art.run.item_journal`, `art.cfg.data`).

    Raises:
        DataValidationError: an item breaks the data contract (the message names the journal).

    Example:
        >>> rows = journal_item_rows(RunArtifacts(cfg, RunDir(cfg.run_path)))  # doctest: +SKIP
    """
    path = art.run.item_journal
    contents = read_journal(path)
    items = latest_entries(contents.records, "items", "item_id")
    if contents.torn_bytes:
        echo(
            f"[export] {path.name}: left out an incomplete last record ({contents.torn_bytes} "
            "bytes: being written now, or left by a crash; never acknowledged)"
        )
    if not items:
        return None
    frame = pd.DataFrame(items)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    clean, violations = validate_items(frame, str(path), art.cfg.data, DataReport())
    if violations:
        raise DataValidationError(violations)
    return clean.reset_index(drop=True)


def fold_item_journal(art: RunArtifacts) -> int:
    """Upsert the journal's items into the run's index (see the module doc); returns how many
    items it holds (0: nothing to do, the index is untouched).

    Args:
        art: the run's artifacts (its data and trained retrieval model).

    Example:
        >>> fold_item_journal(RunArtifacts(cfg, RunDir(cfg.run_path)))  # doctest: +SKIP
        2
    """
    rows = journal_item_rows(art)
    if rows is None:
        return 0
    echo(f"[export] folding {len(rows)} items added while serving into the index")
    add_items(art, art.run.item_journal, items=rows)
    return len(rows)
