"""The web UI at /ui (tfrec/serving/ui) and the views it reads (/status, /history), on a tiny
served run started with an API key.

The browser tests drive the page in a real headless browser, Debian's chromium through
Selenium and Debian's chromedriver (`make browser` installs both): they type a query and check
the cards against the JSON API, open a product, switch users, move the MMR slider and see the
order change, compare two settings side by side, read the status page, and check that bad input
shows the API's own error. Each page is saved as a screenshot under test-artifacts/ui/. They
skip, saying why, only where chromium or chromedriver cannot be found.
"""

from __future__ import annotations

import base64
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from serving_client import http

from tfrec.core.rundir import RunDir
from tfrec.serving.ui import ui_response

KEY = "ui-test-key"
AUTH = {"X-API-Key": KEY}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
# test input: the page must show metrics.json's figures as written
EVALUATION = {
    "retrieval": {
        "search": {
            "instances": 12,
            "slices": {
                "all": {
                    "bm25": {"recall@10": 0.25, "ndcg@10": 0.125},
                    "trained": {"recall@10": 0.5, "ndcg@10": 0.375},
                }
            },
        }
    }
}


def api(app, path, **params):
    """(status, JSON) of GET path?params with the API key."""
    return http(app, "GET", f"{path}?{urlencode(params)}", headers=AUTH)


# --- the assets, without a server ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/index.html"])
def test_the_page_is_served_at_ui(path):
    status, body, ctype = ui_response(path)
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert b'<script type="module" src="/ui/app.js">' in body


def test_every_asset_the_page_loads_is_shipped_with_its_type():
    _, page, _ = ui_response("/ui/")
    assert b"http://" not in page and b"https://" not in page  # nothing from the internet
    for name, ctype in [("app.js", "text/javascript"), ("ui.css", "text/css")]:
        status, body, got = ui_response(f"/ui/{name}")
        assert status == 200 and got.startswith(ctype) and body
    status, body, _ = ui_response("/ui/search.js")
    assert status == 200 and b"/search" in body


@pytest.mark.parametrize(
    "path", ["/ui/../rest.py", "/ui/..", "/ui/static/app.js", "/ui/%2e%2e%2fassets.py", "/ui/a\\b"]
)
def test_paths_out_of_the_asset_folder_are_refused(path):
    status, body, ctype = ui_response(path)
    assert status == 400 and ctype == "application/json"
    assert b"refused UI asset path" in body


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/assets.py", "/ui/__init__.py", "/uix"])
def test_unknown_assets_are_404(path):
    status, body, _ = ui_response(path)
    assert status == 404 and b'"error"' in body


# --- the served run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui_app(exported_run, tmp_path_factory):
    """The tiny run copied (this server holds its live-item journal), with metrics.json, served
    with an API key and no gRPC."""
    from tfrec.serving.server import ServingApp

    cfg, run, *_ = exported_run
    root = tmp_path_factory.mktemp("ui") / "run"
    shutil.copytree(run.root, root)
    RunDir(root).save_metrics(EVALUATION)
    server = ServingApp(
        root, port=0, grpc_port=None, api_key=KEY, config=cfg.serving, run_config=cfg
    )
    server.start()
    yield server
    server.stop()


def test_ui_needs_the_api_key_and_browsers_are_asked_for_it(ui_app):
    status, body = http(ui_app, "GET", "/status")
    assert status == 401 and "API key" in body["error"]
    url = f"http://127.0.0.1:{ui_app.port}/ui/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith('Basic realm="tfrec"')
    for user in ("", "anyone"):
        basic = base64.b64encode(f"{user}:{KEY}".encode()).decode()
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {basic}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200 and b"<title>" in resp.read()
    wrong = base64.b64encode(b"tfrec:nope").decode()
    status, _ = http(ui_app, "GET", "/search?q=mug", headers={"Authorization": f"Basic {wrong}"})
    assert status == 401


def test_status_names_served_versions_index_shop_and_evaluation(ui_app):
    status, body = api(ui_app, "/status")
    assert status == 200, body
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == set(ui_app.manager.model_names())
    scann = models["tfrec_scann"]
    assert scann["served"] == ui_app.manager.get("tfrec_scann").version
    assert scann["versions"][0]["state"] == "AVAILABLE"
    assert scann["info"]["num_items"] == 60 and scann["info"]["index"]["mode"]
    assert "/" not in body["run"] and str(ui_app.run_dir) not in str(body)  # no server paths
    shop = body["shop"]
    _, ctx = ui_app.pipeline.current()
    assert shop["num_items"] == ctx.num_items - 1 and shop["ranker"] is None
    longest = max(len(h) for h in ctx.user_histories.values())
    assert len(ctx.user_histories[shop["sample_users"][0]]) == longest
    assert shop["defaults"]["retriever"] == ui_app.run_config.shop.retriever
    assert body["evaluation"]["figures"] == EVALUATION


def test_history_is_the_users_recent_items_most_recent_first(ui_app):
    _, ctx = ui_app.pipeline.current()
    user = next(u for u, rows in ctx.user_histories.items() if len(rows) >= 3)
    status, body = api(ui_app, "/history", user_id=user, k=3)
    assert status == 200, body
    want = [ctx.item_ids[i] for i in ctx.user_histories[user][::-1][:3]]
    assert [it["item_id"] for it in body["items"]] == want and body["user_known"]
    assert api(ui_app, "/history", user_id="ghost")[1]["items"] == []
    status, body = api(ui_app, "/history", user_id=user, k=0)
    assert status == 400 and "k must be between 1 and" in body["error"]
    status, body = api(ui_app, "/history", user=user)
    assert status == 400 and "unknown parameter 'user'" in body["error"]
    status, body = api(ui_app, "/history")
    assert status == 400 and "needs user_id" in body["error"]


# --- in the browser ------------------------------------------------------------------------------


def _browser_binaries() -> tuple[str | None, str | None]:
    chromium = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
    )
    return chromium, shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Headless chromium at 1280 px, driven through chromedriver (no download: both must be on
    PATH, as `make browser` installs them)."""
    chromium, driver_path = _browser_binaries()
    if chromium is None or driver_path is None:
        pytest.skip(
            "the web UI browser tests need Debian's chromium and chromedriver on PATH "
            f"(chromium: {chromium or 'not found'}, chromedriver: {driver_path or 'not found'}); "
            "install them with `make browser` (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


class Page:
    """The UI of `app` in `driver`: open a view, wait for what it shows, save a screenshot."""

    loads = 0

    def __init__(self, driver, app):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver, self.app, self.By, self.Keys = driver, app, By, Keys

    def open(self, fragment: str = ""):
        """Load the page afresh (a new query string: no state kept) with the key as the Basic
        password, as a person typing it into the browser's login prompt would."""
        Page.loads += 1
        base = f"http://tfrec:{KEY}@127.0.0.1:{self.app.port}"
        self.driver.get(f"{base}/ui/?load={Page.loads}{fragment}")
        self.wait(
            lambda d: d.execute_script("return document.body.dataset.ready") == "true", "start"
        )
        self.driver.execute_script("window.sessionStorage.clear()")

    def wait(self, cond, what: str, timeout: float = 30):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(cond)
        except TimeoutException:
            text = self.driver.find_element(self.By.TAG_NAME, "main").text[:800]
            raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text}") from None

    def find(self, css: str, root=None):
        return (root or self.driver).find_element(self.By.CSS_SELECTOR, css)

    def find_all(self, css: str, root=None):
        return (root or self.driver).find_elements(self.By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def type_into(self, css: str, text: str, submit: bool = False):
        box = self.find(css)
        box.clear()
        box.send_keys(text, *([self.Keys.ENTER] if submit else []))

    def ids(self, css: str, root=None) -> list[str]:
        """The data-item-id of every element matching css (read in one step: no stale nodes)."""
        return self.driver.execute_script(
            "return [...(arguments[1] || document).querySelectorAll(arguments[0])]"
            ".map(el => el.dataset.itemId);",
            css,
            root,
        )

    def wait_text(self, css: str, needle: str, what: str):
        self.wait(lambda d: needle in self.text(css), what)

    def screenshot(self, name: str) -> Path:
        """The whole page (the window grown to the content's height) as test-artifacts/ui/NAME.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        size = self.driver.get_window_size()
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 6000))
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(size["width"], size["height"])
        assert path.stat().st_size > 5000
        return path


@pytest.fixture
def page(browser, ui_app):
    return Page(browser, ui_app)


def _search_params(app, **extra):
    """What the search form sends by default (no ranker served: its switch is off)."""
    return {"k": 10, "mmr_lambda": app.run_config.shop.mmr_lambda, "explain": "true", **extra}


def _shown(x: float) -> str:
    """A score as the page writes it (4 significant digits, `num` in dom.js)."""
    return f"{float(f'{x:.4g}'):g}"


def _histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets: linear
    inside the bucket holding the rank; in the +Inf bucket, the highest finite bound."""
    buckets = sorted(buckets)
    rank, low, below = q * buckets[-1][1], 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return low
            return low + (bound - low) * (rank - below) / (count - below)
        low, below = bound, count
    return low


def _ids(body) -> list[str]:
    return [it["item_id"] for it in body["items"]]


def test_search_by_keyboard_shows_the_apis_items_as_cards(page, ui_app):
    page.open()
    page.type_into("#search-q", "mug", submit=True)  # Enter in the query box submits
    page.wait_text("#search-summary", "results for “mug”", "the search results")
    _, body = api(ui_app, "/search", q="mug", **_search_params(ui_app, retriever="dense"))
    assert page.ids("#search-results .card") == _ids(body)
    first, item = page.find("#search-results .card"), body["items"][0]
    assert page.find("h3 a", first).text == item["title"]
    assert page.find(".category", first).text == item["category"]
    assert page.find(".brand", first).text == item["brand"]
    assert page.find(".price", first).text == f"{item['price']:.2f}"
    assert page.find(".scores dd", first).text == _shown(item["score"])
    assert {c.get_attribute("data-stage") for c in page.find_all("#search-results .card")} == {
        "retrieval"
    }  # no ranker served and no MMR: the retriever placed every item
    assert "dense retrieval" in page.text("#search-results .stage-detail")
    reasons = [li.text for li in page.find_all(".reasons li", first)]
    assert reasons == item["explanation"]["reasons"]
    assert page.find("#search-ranker").get_attribute("disabled") is not None
    assert "No ranker is served" in page.text("#search-ranker-note")
    page.screenshot("search")


def test_lower_mmr_lambda_changes_the_order_and_marks_the_rules(page, ui_app):
    page.open("#/search?q=mug&k=10")
    page.wait_text("#search-summary", "results for “mug”", "the first results")
    before = page.ids("#search-results .card")
    slider = page.find("#search-mmr")
    slider.send_keys(*[page.Keys.ARROW_LEFT] * 2)  # 0.9 in steps of 0.05
    assert page.find("#search-mmr-value").text == "0.9"
    slider.send_keys(page.Keys.HOME)  # 0: diversity only (the tiny run's order holds above 0.05)
    assert page.find("#search-mmr-value").text == "0"
    page.find("#search-form button[type=submit]").send_keys(page.Keys.ENTER)
    page.wait(lambda d: page.ids("#search-results .card") != before, "a new order")
    _, body = api(ui_app, "/search", q="mug", **_search_params(ui_app, mmr_lambda=0))
    after = page.ids("#search-results .card")
    assert after == _ids(body) and after != before
    stages = [c.get_attribute("data-stage") for c in page.find_all("#search-results .card")]
    assert "rules" in stages  # MMR moved items away from their score order
    assert "mmr_lambda=0&" in page.driver.current_url


def test_open_a_product_from_a_card(page, ui_app):
    page.open("#/search?q=mug&k=10")
    page.wait_text("#search-summary", "results for “mug”", "the search results")
    link = page.find("#search-results .card h3 a")
    item_id = page.find("#search-results .card").get_attribute("data-item-id")
    link.send_keys(page.Keys.ENTER)
    page.wait(lambda d: page.ids("#product-item .card") == [item_id], "the product")
    page.wait(lambda d: len(page.find_all("#product-lists .list-section")) == 4, "the lists")
    assert page.driver.switch_to.active_element.get_attribute("id") == "h-product"
    w = ui_app.run_config.shop.similar_weights
    weights = ",".join(f"{d}:{w[d]:g}" for d in ("semantic", "behavioural", "attribute"))
    _, similar = api(ui_app, "/similar", item_id=item_id, weights=weights, k=6)
    sections = page.find_all("#product-lists .list-section")
    assert page.ids(".cards > .card", sections[0]) == _ids(similar)
    for dim, column in zip(
        ("semantic", "behavioural", "attribute"), page.find_all(".three-columns > div")
    ):
        only = ",".join(f"{d}:{int(d == dim)}" for d in ("semantic", "behavioural", "attribute"))
        _, alone = api(ui_app, "/similar", item_id=item_id, weights=only, k=3)
        assert page.ids(".card", column) == _ids(alone), dim
    _, comp = api(ui_app, "/complementary", item_id=item_id, k=6)
    assert page.ids(".cards > .card", sections[2]) == _ids(comp)
    _, bundle = api(ui_app, "/bundle", items=item_id)
    assert page.ids(".cards > .card", sections[3]) == _ids(bundle)
    page.screenshot("product")


def test_switch_user_then_an_anonymous_session(page, ui_app):
    page.open("#/feed")
    _, status = api(ui_app, "/status")
    first, second = status["shop"]["sample_users"][:2]
    feeds = {}
    for user in (second, first):
        page.type_into("#feed-user", user, submit=True)
        page.wait_text("#feed-summary", f"for user {user} ", f"the feed of {user}")
        _, feed = api(ui_app, "/recommend", user_id=user, **_search_params(ui_app))
        _, history = api(ui_app, "/history", user_id=user, k=10)
        feeds[user] = page.ids("#feed-results .card")
        assert feeds[user] == _ids(feed) and "source personalised" in page.text("#feed-summary")
        assert page.ids("#feed-history .card") == _ids(history) and history["items"]
    assert feeds[first] != feeds[second]
    page.screenshot("feed")
    # an anonymous visitor: a session made by clicking "Add to session" on two cards
    clicked = page.ids("#feed-results .card")[:2]
    for button in page.find_all("#feed-results .add-session")[:2]:
        button.click()
    assert page.ids("#session-list li") == clicked
    page.type_into("#feed-user", "")
    page.find("#feed-form button[type=submit]").click()
    page.wait_text("#feed-summary", "anonymous visitor", "the session's feed")
    _, feed = api(ui_app, "/recommend", session_items=",".join(clicked), **_search_params(ui_app))
    assert page.ids("#feed-results .card") == _ids(feed) and feed["source"] == "session"
    assert "source session" in page.text("#feed-summary")


def test_side_by_side_marks_what_differs(page, ui_app):
    page.open("#/compare")
    page.type_into("#compare-q", "item number 7")
    page.type_into("input[name=b_mmr_lambda]", "0.3", submit=True)
    page.wait_text("#compare-summary", "items in both lists", "the comparison")
    common = {"q": "item number 7", "k": 10}
    _, left = api(ui_app, "/search", retriever="dense", mmr_lambda=1, **common)
    _, right = api(ui_app, "/search", retriever="hybrid", mmr_lambda=0.3, **common)
    a, b = _ids(left), _ids(right)
    assert a != b
    assert page.ids(".side-a li") == a and page.ids(".side-b li") == b
    for side, mine, other in (("a", a, b), ("b", b, a)):
        for el, item in zip(page.find_all(f".side-{side} li"), mine):
            want = "only" if item not in other else "same"
            if item in other and other.index(item) != mine.index(item):
                want = "up" if other.index(item) > mine.index(item) else "down"
            assert el.get_attribute("data-change") == want, (side, item)
    both = len(set(a) & set(b))
    assert page.text("#compare-summary").startswith(f"“item number 7”: {both} of {len(a)} items")
    page.screenshot("compare")


def test_status_page_shows_versions_traffic_and_evaluation(page, ui_app):
    for q in ("mug", "lamp", "tent"):
        assert api(ui_app, "/search", q=q)[0] == 200
    page.open("#/status")
    page.wait(lambda d: page.find_all("#status-traffic tbody tr"), "the traffic table")
    models = page.text("#status-models")
    for name in ui_app.manager.model_names():
        assert f"{name} v{ui_app.manager.get(name).version}" in models
    assert "brute_force" in models or "scann" in models  # the index parameters
    rows = page.driver.execute_script(  # in one step: the table is redrawn every 5 s
        """return Object.fromEntries([...document.querySelectorAll('#status-traffic tbody tr')]
             .map(r => [r.querySelector('th').textContent,
                        [...r.querySelectorAll('td')].map(td => td.textContent)]));"""
    )
    text = (
        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{ui_app.port}/metrics", headers=AUTH),
            timeout=30,
        )
        .read()
        .decode()
    )
    searches = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('tfrec_requests_total{endpoint="/search"')
    )
    assert rows["/search"][0] == f"{searches:g}"
    buckets = [
        (float(line.split('le="')[1].split('"')[0]), float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith('tfrec_request_seconds_bucket{endpoint="/search"')
    ]
    for q, column in ((0.5, 3), (0.95, 4), (0.99, 5)):  # after requests, rate, errors
        assert rows["/search"][column] == f"{_shown(_histogram_quantile(q, buckets) * 1000)} ms"
    evaluation = page.text("#status-evaluation")
    assert "retrieval › search › slices › all" in evaluation
    assert "0.375" in evaluation and "trained" in evaluation
    page.screenshot("status")


def test_bad_input_shows_the_apis_error(page, ui_app):
    page.open("#/search?q=mug&k=1000")
    page.wait(lambda d: page.text("#search-error"), "the error")
    _, body = api(ui_app, "/search", q="mug", k=1000)
    assert page.text("#search-error .error-message") == body["error"]
    assert page.text("#search-error").startswith("400 Request refused")
    assert page.find_all("#search-results .card") == []
    page.screenshot("error")
    page.open("#/product/NOPE")
    page.wait(lambda d: page.text("#product-error"), "the product error")
    _, body = api(ui_app, "/similar", item_id="NOPE", k=6)
    assert page.text("#product-error .error-message") == body["error"]
    assert "unknown item id 'NOPE'" in body["error"]
    page.open("#/search")
    page.find("#search-form button[type=submit]").click()  # no query
    page.wait(lambda d: "needs q=" in page.text("#search-error"), "the empty query's error")


def test_labelled_controls_keyboard_start_and_phone_width(page, ui_app):
    page.open("#/search?q=mug&k=6")
    page.wait_text("#search-summary", "results for “mug”", "the results")
    unlabelled = page.driver.execute_script(
        """return [...document.querySelectorAll('input:not([type=hidden]), select, button')]
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                           && !el.textContent.trim())
             .map(el => el.outerHTML);"""
    )
    assert unlabelled == []
    page.find("body").send_keys(page.Keys.TAB)
    assert page.driver.switch_to.active_element.get_attribute("class") == "skip-link"
    assert page.find("nav a[aria-current=page]").text == "Search"
    page.driver.set_window_size(390, 844)
    try:
        for fragment, ready in (
            ("#/search?q=mug&k=6", "#search-results .card"),
            ("#/feed?user_id=u1&shown=1", "#feed-results .card"),
            ("#/status", "#status-traffic tbody tr"),
        ):
            page.open(fragment)
            page.wait(lambda d, css=ready: page.find_all(css), fragment)
            overflow = page.driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{fragment} is {overflow} px wider than a phone"
            if fragment.startswith("#/search"):
                page.screenshot("search-phone")
    finally:
        page.driver.set_window_size(1280, 900)
