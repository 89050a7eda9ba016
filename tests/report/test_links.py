"""The navigation bar that joins the report pages of a run."""

from tfrec.report.links import link_report_pages


def test_report_pages_link_to_each_other(tmp_path):
    (tmp_path / "index.html").write_text("<html><body><h1>a</h1></body></html>")
    (tmp_path / "shop.html").write_text("<html><body><h1>b</h1></body></html>")
    link_report_pages(tmp_path)
    (tmp_path / "ranking.html").write_text("<html><body><h1>c</h1></body></html>")
    pages = link_report_pages(tmp_path)  # a later stage: the bar is replaced, not repeated
    assert [p.name for p in pages] == ["index.html", "ranking.html", "shop.html"]
    for page in pages:
        text = page.read_text()
        assert text.count("<nav") == 1
        assert "href='ranking.html'" in text and "href='shop.html'" in text
