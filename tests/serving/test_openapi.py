"""`GET /openapi.json` is a valid OpenAPI 3.1 document, and the server's real answers fit it:
each shop endpoint's request and response (openapi-core validates both), and the errors of
every status it declares, in the one error format."""

import http.client
import json
from urllib.parse import urlencode

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import validate

HOST = "http://127.0.0.1"
NEW = {"item_id": "n-openapi", "title": "enamel camping mug", "price": 4.5, "brand": "b"}


@pytest.fixture(scope="module")
def document(app) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request("GET", "/openapi.json")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    document = json.loads(resp.read())
    conn.close()
    assert document["openapi"].startswith("3.1")
    return document


@pytest.fixture(scope="module")
def api(document):
    return OpenAPI.from_dict(document)  # checks the document against the OpenAPI schema


def exchange(app, method, path, params=None, body=None):
    """(MockRequest, MockResponse) of one real request to the server."""
    query = f"?{urlencode(params)}" if params else ""
    data = json.dumps(body).encode() if body is not None else None
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request(method, path + query, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    request = MockRequest(HOST, method.lower(), path, args=params or {}, data=data)
    response = MockResponse(
        payload, status_code=resp.status, content_type=resp.getheader("Content-Type")
    )
    return request, response


OK = [
    ("/recommend", {"k": 3}),
    ("/recommend", {"user_id": "u1", "session_items": "i1,nope", "k": 3, "explain": "true"}),
    ("/recommend", {"session_queries": "mug", "k": 4, "mmr_lambda": 0.5, "category": "A"}),
    ("/search", {"q": "mug", "k": 3, "explain": "1"}),
    ("/search", {"q": "item number 4", "retriever": "hybrid", "category": "E > F", "k": 2}),
    ("/search", {"q": "mug", "ranker": "false", "k": 2}),
    ("/similar", {"item_id": "i3", "weights": "semantic:1,behavioural:0.5", "k": 3}),
    ("/complementary", {"item_id": "i3", "cart": "i8", "k": 3}),
    ("/bundle", {"items": "i3,i8", "size": 2}),
    ("/healthz", None),
    ("/status", None),
    ("/history", {"user_id": "u1", "k": 2}),
    ("/history", {"user_id": "nobody-at-all"}),
]


@pytest.mark.parametrize("path,params", OK)
def test_answers_fit_the_document(app, api, path, params):
    request, response = exchange(app, "GET", path, params)
    assert response.status_code == 200, response.data
    api.validate_request(request)
    api.validate_response(request, response)


ERRORS = [
    ("GET", "/recommend", {"k": 0}, None, 400),
    ("GET", "/search", {"q": "mug", "kk": 3}, None, 400),
    ("GET", "/similar", {"item_id": "nope"}, None, 404),
    ("GET", "/history", {"k": 2}, None, 400),
    ("POST", "/v1/items", None, {"items": [NEW]}, 403),
    ("POST", "/v1/items", None, {"items": [{"item_id": "x", "title": "x" * 70_000}]}, 413),
]


@pytest.mark.parametrize("method,path,params,body,status", ERRORS)
def test_errors_fit_the_document(app, api, method, path, params, body, status):
    request, response = exchange(app, method, path, params, body)
    assert response.status_code == status, response.data
    api.validate_response(request, response)
    assert set(json.loads(response.data)) == {"error"}


@pytest.mark.parametrize(
    "method,path", [("POST", "/search"), ("GET", "/v1/items"), ("GET", "/nope"), ("BREW", "/")]
)
def test_errors_of_undescribed_operations_use_the_error_schema(app, document, method, path):
    """A method or path the document has no operation for (405, 404, 501) still answers in
    its Error schema."""
    _, response = exchange(app, method, path, body={} if method != "GET" else None)
    assert response.status_code in (404, 405, 501), response.data
    validate(json.loads(response.data), document["components"]["schemas"]["Error"])


def test_a_live_add_fits_the_document(app, api, monkeypatch):
    monkeypatch.setattr(app, "api_key", "k")
    monkeypatch.setattr(app.pipeline, "journal", None)  # in memory only: the run is shared
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=60)
    data = json.dumps({"items": [NEW]}).encode()
    conn.request("POST", "/v1/items", body=data, headers={"X-API-Key": "k"})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    assert resp.status == 200, payload
    request = MockRequest(HOST, "post", "/v1/items", data=data, headers={"X-API-Key": "k"})
    api.validate_request(request)
    api.validate_response(request, MockResponse(payload, status_code=200))


def test_the_document_is_checked_not_trusted(api):
    """openapi-core rejects an answer that does not fit (so the checks above can fail)."""
    request = MockRequest(HOST, "get", "/similar", args={"item_id": "i3"})
    with pytest.raises(Exception, match="(?i)valid"):
        api.validate_response(request, MockResponse(b'{"items": "none"}', status_code=200))
    with pytest.raises(Exception, match="(?i)valid"):
        api.validate_response(request, MockResponse(b'{"error": 3}', status_code=404))
