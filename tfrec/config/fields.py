"""`param`: a dataclass field with the range rules that `tfrec.config.load_config` enforces
(`tfrec.config.values`), shared by the schema modules."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any


def param(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    min_len: int | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with range rules that `load_config` enforces."""
    metadata = {"gt": gt, "ge": ge, "lt": lt, "le": le, "min_len": min_len, "help": help}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)
