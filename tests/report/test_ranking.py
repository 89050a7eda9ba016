"""The ranking page: its tables, the calibration plot, and the sections that only appear
when there is something to show."""

import pandas as pd

from tfrec.config import Config
from tfrec.report.ranking import write_ranking_report


def _tables(searches: int, significance: bool) -> dict:
    e2e = pd.DataFrame({"order": ["retrieval only"], "NDCG@10": [0.25]})
    e2e.attrs["recall_at_candidates"] = 0.5
    bins = pd.DataFrame({"predicted": [0.1, 0.4], "observed": [0.12, 0.35], "n": [5, 5]})
    sig = pd.DataFrame(
        {"comparison": ["click AUC: x"], "difference": [0.01], "95% low": [0.0], "95% high": [0.02]}
    )
    return {
        "classification": pd.DataFrame({"model": ["ranker"], "click AUC": [0.61234]}),
        "position_effect": pd.DataFrame({"order": ["logged"], "NDCG@10": [0.7]}),
        "end_to_end": e2e,
        "searches": searches,
        "calibration": {"ranker": bins},
        "significance": sig if significance else pd.DataFrame(),
    }


def test_ranking_page_has_tables_plot_and_optional_sections(tmp_path):
    cfg = Config(name="shop <1>")
    path = write_ranking_report(tmp_path / "report" / "ranking.html", cfg, **_tables(12, True))
    page = path.read_text()
    assert page.startswith("<!doctype html>") and page.endswith("</body></html>")
    assert "<h1>tfrec ranking: shop &lt;1&gt;</h1>" in page
    assert "0.6123" in page and "alt='calibration' src='data:image/png;base64," in page
    assert "12 searches; top 100 candidates" in page and "Recall@100 0.5000" in page
    assert "with 95% intervals" in page

    page = write_ranking_report(tmp_path / "bare.html", cfg, **_tables(0, False)).read_text()
    assert "End to end" not in page and "with 95% intervals" not in page


def _judgment_tables() -> dict:
    orders = pd.DataFrame(
        {
            "order": ["retrieval (two-tower)", "listwise ranker (re-ranks the top 50)"],
            "NDCG@10": [0.8491, 0.9258],
        }
    )
    sig = pd.DataFrame(
        {
            "comparison": ["NDCG@10: listwise ranker - retrieval"],
            "difference": [0.0767],
            "95% low": [0.0646],
            "95% high": [0.0891],
        }
    )
    return {"orders": orders, "significance": sig, "text": "500 held-out judged queries"}


def test_judgments_section_with_and_without_the_ctr_ranker(tmp_path):
    cfg = Config(name="shop")
    both = write_ranking_report(
        tmp_path / "both.html", cfg, **_tables(12, True), judgments=_judgment_tables()
    ).read_text()
    assert "alt='calibration'" in both and "Learning to rank from graded judgments" in both
    assert "0.9258" in both and "500 held-out judged queries." in both
    assert both.index("End to end") < both.index("graded judgments")

    only = write_ranking_report(
        tmp_path / "only.html", cfg, judgments=_judgment_tables()
    ).read_text()
    assert "the CTR ranker was not trained" in only and "0.0646" in only
    assert "calibration" not in only and "End to end" not in only
    assert only.endswith("</body></html>")
