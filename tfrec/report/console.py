"""Tables printed to the run's output (the console twin of the HTML pages)."""

from __future__ import annotations

import pandas as pd

from tfrec.core.log import echo


def echo_table(title: str, table: pd.DataFrame) -> None:
    """`echo` a title line, then a table with 4 decimals and no index, as wide as it is.

    Args:
        title: the line above the table, e.g. `[ranking] test impressions (81089): ...`.
        table: the rows to print.

    Example:
        >>> echo_table("[x] figures", pd.DataFrame({"model": ["a"], "auc": [0.81234]}))
        [x] figures
        model    auc
            a 0.8123
    """
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format
    ):
        echo(title)
        echo(table.to_string(index=False))
