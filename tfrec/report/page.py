"""The pieces every report page shares: the HTML head and style, and figures as inline PNG.

Pages are self-contained (plots embedded as base64 PNG) so a report directory can be copied or
attached anywhere; `tfrec.report.links.link_report_pages` joins them with a navigation bar.
"""

from __future__ import annotations

import base64
import html
import io

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}"
    ".best{font-weight:bold;background:#eef8ee}"
)


def page_start(title: str, extra_style: str = "") -> list[str]:
    """The opening lines of a report page up to and including its `<h1>`."""
    return [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}{extra_style}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]


PAGE_END = "</body></html>"


def pyplot():
    """`matplotlib.pyplot` on the non-interactive Agg backend (pages are written, not shown).

    Example:
        >>> plt = pyplot()
        >>> fig, ax = plt.subplots()
    """
    # deferred: matplotlib loads only when a page has a plot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above

    return plt


def figure_png(fig) -> str:
    """A matplotlib figure as base64 PNG (the figure is closed)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def img(png_base64: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png_base64}'>"
