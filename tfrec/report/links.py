"""Links between the report pages that different stages write (a navigation bar on each)."""

from __future__ import annotations

import html
import re
from pathlib import Path

REPORT_PAGES = {
    "index.html": "retrieval",
    "ranking.html": "ranking",
    "shop.html": "shop capabilities",
    "tuning.html": "tuning",
}


_NAV_START, _NAV_END = "<!-- tfrec-nav -->", "<!-- /tfrec-nav -->"


def link_report_pages(report_dir: Path) -> list[Path]:
    """Put a navigation bar linking every report page that exists at the top of each of them
    (replacing an older bar), so the pages written by different stages read as one report."""
    pages = [report_dir / name for name in REPORT_PAGES if (report_dir / name).exists()]
    links = " | ".join(f"<a href='{p.name}'>{html.escape(REPORT_PAGES[p.name])}</a>" for p in pages)
    bar = f"{_NAV_START}<nav style='margin-bottom:1em'>{links}</nav>{_NAV_END}"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if _NAV_START in text:
            text = re.sub(
                re.escape(_NAV_START) + ".*?" + re.escape(_NAV_END), bar, text, flags=re.S
            )
        elif "<body>" in text:
            text = text.replace("<body>", "<body>" + bar, 1)
        else:
            continue
        page.write_text(text, encoding="utf-8")
    return pages
