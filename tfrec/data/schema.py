"""The data contract: every table, synthetic or real, enters tfrec in this shape.

- items: `item_id` (string, unique), `title` (non-empty text); optional `description`,
  `category` (a path such as ``Electronics > Audio > Headphones``), `brand`, `price` (>= 0),
  `created_at`; extra columns declared in the config as categorical, numeric or text features.
- events: `user_id`, `item_id`, `event` (impression, click, add_to_cart, purchase, or a name
  declared in the config), `timestamp`; optional `query`, `position` (1-based), `session_id`,
  `quantity`.
- judgments (optional, for search evaluation): `query`, `item_id`, `relevance` (graded, >= 0).
- users (optional): `user_id` (unique); when given, events must point at known users.

Downstream code reads only these columns, never raw files.
"""

from __future__ import annotations

from dataclasses import dataclass

BUILTIN_EVENTS = ("impression", "click", "add_to_cart", "purchase")
# Strength of each interaction, used to pick positives and to weight them.
EVENT_STRENGTH = {"impression": 0, "click": 1, "add_to_cart": 2, "purchase": 3}
CATEGORY_SEPARATOR = " > "


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "string", "text", "float", "int", "timestamp"
    required: bool


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: str | None = None

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


ITEMS = TableSchema(
    "items",
    (
        Column("item_id", "string", True),
        Column("title", "text", True),
        Column("description", "text", False),
        Column("category", "string", False),
        Column("brand", "string", False),
        Column("price", "float", False),
        Column("created_at", "timestamp", False),
    ),
    key="item_id",
)

EVENTS = TableSchema(
    "events",
    (
        Column("user_id", "string", True),
        Column("item_id", "string", True),
        Column("event", "string", True),
        Column("timestamp", "timestamp", True),
        Column("query", "text", False),
        Column("position", "int", False),
        Column("session_id", "string", False),
        Column("quantity", "float", False),
    ),
)

JUDGMENTS = TableSchema(
    "judgments",
    (
        Column("query", "text", True),
        Column("item_id", "string", True),
        Column("relevance", "float", True),
    ),
)

USERS = TableSchema("users", (Column("user_id", "string", True),), key="user_id")

TABLES = {t.name: t for t in (ITEMS, EVENTS, JUDGMENTS, USERS)}
