"""What reading and validating a shop found: violations, the error that lists them, the report.

`Violation` is one broken rule at one place; `DataValidationError` lists every violation of
every rule whose policy is ``error``; `DataReport` counts what was read, kept and dropped.

Example:

```python
from tfrec.data.report import DataReport

report = DataReport(rows_read={"items": 10}, rows_kept={"items": 9})
report.count_dropped("items", "missing_value", 1)
report.summary_lines()  # ["items: read 10 rows, kept 9, dropped 1 (missing_value 1)"]
```
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# The order rules are checked in; a dropped row is counted under the first drop-policy rule it
# breaks, so per table `rows_read - sum(dropped.values()) == rows_kept`.
RULES = (
    "bad_encoding",
    "missing_value",
    "empty_title",
    "bad_number",
    "bad_timestamp",
    "negative_price",
    "bad_position",
    "bad_relevance",
    "unknown_event",
    "duplicate_item_id",
    "duplicate_user_id",
    "unknown_item",
    "unknown_user",
)

# the order tables are validated in (referenced tables first)
TABLE_ORDER = ("items", "users", "events", "judgments", "transactions")


@dataclass
class Violation:
    """One broken rule at one place.

    Args:
        file: str. The file (as given in the config) the value came from.
        row: int | None. The 1-based data row as a user sees it (for CSV the line number in the
            file, header = line 1; for JSON Lines the line number; for Parquet the row number).
            None when the violation is about the whole file.
        column: str | None. The contract column name, None for a whole line.
        rule: str. The rule's name, which is also its policy's name in `ValidationPolicies`.
        value: Any. The offending value.
        message: str. What is wrong, in words.

    Example:
        >>> str(Violation("items.csv", 3, "price", "negative_price", -1.0, "price must be >= 0"))
        'items.csv:3:price: negative_price: price must be >= 0'
    """

    file: str
    row: int | None
    column: str | None
    rule: str
    value: Any
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.column is not None:
            where += f":{self.column}"
        return f"{where}: {self.rule}: {self.message}"

    def to_dict(self) -> dict:
        """Plain data (the value as its repr when it is not a JSON scalar)."""
        out = asdict(self)
        v = self.value
        if not (v is None or isinstance(v, (str, bool, int)) or _finite_float(v)):
            out["value"] = repr(v)
        return out


def _finite_float(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v)


class DataValidationError(ValueError):
    """Input data that breaks the contract under an ``error`` policy.

    `violations` holds every violation found; the message lists all of them, one per line.

    Args:
        violations: list[Violation]. Everything that broke an error-policy rule.
        header: str | None. The message's first line. Defaults to "N data violations".

    Example:
        >>> raise DataValidationError([violation], header="items.csv: bad rows")
    """

    def __init__(self, violations: list[Violation], header: str | None = None) -> None:
        self.violations = list(violations)
        n = len(self.violations)
        head = header or f"{n} data violation{'s' if n != 1 else ''}"
        lines = [head + ":"] + [f"  {v}" for v in self.violations]
        super().__init__("\n".join(lines))


@dataclass
class DataReport:
    """What was read and what the declared policies and cleaning steps removed.

    Args:
        rows_read: dict[str, int]. Table -> data rows read from its file.
        rows_kept: dict[str, int]. Table -> rows in the clean frame.
        dropped: dict[str, dict[str, int]]. Table -> rule -> rows removed by a drop policy (each
            removed row counted once, under the first rule it breaks in `RULES` order).
        cleaning: dict[str, int]. Transactions cleaning step -> rows removed (in step order).
        violations: list[Violation]. Everything found, including what was dropped.
        resolved: dict[str, int]. Fixes that change values without removing rows, e.g.
            ``items_with_inconsistent_titles`` (items whose lines carried several titles).

    Example:
        >>> report = DataReport(rows_read={"items": 10}, rows_kept={"items": 9})
        >>> report.count_dropped("items", "missing_value", 1)
        >>> report.summary_lines()
        ['items: read 10 rows, kept 9, dropped 1 (missing_value 1)']
    """

    rows_read: dict[str, int] = field(default_factory=dict)
    rows_kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    cleaning: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    resolved: dict[str, int] = field(default_factory=dict)

    def count_dropped(self, table: str, rule: str, n: int) -> None:
        """Add `n` rows removed from `table` by `rule`'s drop policy."""
        if n:
            per = self.dropped.setdefault(table, {})
            per[rule] = per.get(rule, 0) + int(n)

    def summary_lines(self) -> list[str]:
        """Human-readable lines: per table read/kept/dropped, then cleaning and fixes."""
        lines = []
        tables = sorted(
            set(self.rows_read) | set(self.rows_kept),
            key=lambda t: (TABLE_ORDER.index(t) if t in TABLE_ORDER else len(TABLE_ORDER), t),
        )
        for t in tables:
            line = f"{t}: read {self.rows_read.get(t, 0):,} rows, kept {self.rows_kept.get(t, 0):,}"
            drops = self.dropped.get(t, {})
            if drops:
                parts = ", ".join(f"{r} {n:,}" for r, n in drops.items())
                line += f", dropped {sum(drops.values()):,} ({parts})"
            lines.append(line)
        if self.cleaning:
            parts = ", ".join(f"{k} {n:,}" for k, n in self.cleaning.items())
            lines.append(f"cleaning removed {sum(self.cleaning.values()):,} rows ({parts})")
        for k, n in self.resolved.items():
            lines.append(f"resolved: {k} {n:,}")
        if self.violations:
            lines.append(f"violations found: {len(self.violations):,}")
        return lines

    def to_dict(self) -> dict:
        """The report as JSON-ready plain data."""
        return {
            "rows_read": dict(self.rows_read),
            "rows_kept": dict(self.rows_kept),
            "dropped": {t: dict(d) for t, d in self.dropped.items()},
            "cleaning": dict(self.cleaning),
            "resolved": dict(self.resolved),
            "violations": [v.to_dict() for v in self.violations],
        }
