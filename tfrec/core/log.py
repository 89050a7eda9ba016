"""The one way tfrec reports progress and results: `echo`, a line on standard output, flushed
(stages run for minutes; a log file or a pipe must show each line when it happens)."""

from __future__ import annotations


def echo(msg: str = "") -> None:
    """Print one message line (or several, separated by newlines) and flush.

    Args:
        msg: the text; stages prefix it with their name in brackets, e.g. `[data] ...`.

    Example:
        >>> echo("[index] built")
        [index] built
    """
    print(msg, flush=True)
