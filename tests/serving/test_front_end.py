"""The REST front end holds against what fooled `http.server` (issue 13, defects 4, 7 and 8):
every status is a JSON error, slow senders are cut off after a bounded total time, the number of
connections is bounded, a body shorter or longer than its Content-Length is answered at once
and never read as a next request, no `Server:` header names versions, no error names a path
of the server's disk.

Limits are read as each connection opens, so the tests set them on the shared server."""

import http.client
import json
import select
import socket
import time

import pytest
from serving_client import http as request
from serving_client import wait_for

PREDICT = "/v1/models/tfrec:predict"


def raw_exchange(app, data: bytes, wait_s: float = 15.0) -> bytes:
    """Send `data` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=wait_s) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def responses(raw: bytes) -> list[tuple[int, dict, bytes]]:
    """(status, headers, body) of each HTTP response in `raw`, in order."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:])}
        n = int(headers.get("content-length", len(rest)))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


def assert_json_error(headers: dict, body: bytes, words: str = "") -> str:
    assert headers.get("content-type", "").startswith("application/json"), (headers, body)
    payload = json.loads(body)
    assert set(payload) == {"error"} and words in payload["error"], payload
    return payload["error"]


@pytest.mark.parametrize(
    "method,path,status,words",
    [
        ("POST", "/search", 405, "POST is not allowed on /search"),
        ("PUT", "/v1/items", 405, "PUT is not allowed on /v1/items"),
        ("DELETE", "/v1/models/tfrec", 405, "DELETE"),
        ("GET", "/v1/items", 405, "GET"),
        ("BREW", "/search", 501, "BREW is not implemented"),
        ("GET", "/no/such/path", 404, "Malformed request: GET /no/such/path"),
    ],
)
def test_every_status_is_a_json_error(app, method, path, status, words):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request(method, path, body=b"{}" if method != "GET" else None)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == status, body
    assert_json_error({k.lower(): v for k, v in resp.getheaders()}, body, words)
    if status == 405:
        assert resp.getheader("Allow")  # which methods the path takes


def test_an_oversized_body_is_a_json_413_before_it_is_sent(app):
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {app.max_body_bytes + 1}\r\n\r\n"
    (status, headers, body), *_ = responses(raw_exchange(app, head.encode()))
    assert status == 413
    assert_json_error(headers, body, "exceeds the limit")


def test_no_server_header_names_the_software(app):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200
    assert resp.getheader("Server") is None, resp.getheader("Server")


def test_a_short_content_length_never_makes_the_rest_a_next_request(app):
    marker = "ECHO-ME-BACK"
    body = json.dumps({"inputs": {"query": [marker]}, "signature_name": "retrieval_bruteforce"})
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    raw = raw_exchange(app, head.encode() + body.encode() + b"\r\n")
    got = responses(raw)
    assert marker.encode() not in raw, raw  # nothing of it is echoed back
    assert got and all(status == 400 for status, _, _ in got), raw
    for _, headers, payload in got:
        assert_json_error(headers, payload)


def test_a_body_shorter_than_its_content_length_is_a_quick_400(app, monkeypatch):
    monkeypatch.setattr(app.config, "idle_timeout_seconds", 1.0, raising=False)
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    t0 = time.monotonic()
    # the client sends 10 of the 100 bytes and waits (http.server answered 500 after 30 s)
    raw = raw_exchange(app, head.encode() + b'{"inputs":', wait_s=15)
    (status, headers, body), *_ = responses(raw)
    assert status == 400, raw
    assert_json_error(headers, body, "stopped after 10 of the 100 bytes its Content-Length")
    assert time.monotonic() - t0 < 15


def test_a_slow_sender_is_cut_off_after_the_request_timeout(app, monkeypatch):
    """One byte every 0.3 s never trips the idle timeout; the whole request's does (http.server
    kept such a client, and its thread, for as long as it kept sending)."""
    monkeypatch.setattr(app.config, "request_timeout_seconds", 2.0, raising=False)
    monkeypatch.setattr(app.config, "idle_timeout_seconds", 1.5, raising=False)
    data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
        t0 = time.monotonic()
        sent = 0
        while sent < len(data) and time.monotonic() - t0 < 20:
            readable, _, _ = select.select([s], [], [], 0.3)
            if readable:
                break  # the server answered (and closes)
            s.sendall(data[sent : sent + 1])
            sent += 1
        took = time.monotonic() - t0
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    assert sent < len(data) and took < 10, (sent, took)  # cut off, not served to the end
    (status, headers, body), *_ = responses(raw)
    assert status == 408
    assert_json_error(headers, body, "did not arrive in full within 2 s")


def test_headers_that_stop_arriving_get_a_408(app, monkeypatch):
    monkeypatch.setattr(app.config, "idle_timeout_seconds", 1.0, raising=False)
    raw = raw_exchange(app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", wait_s=15)
    (status, headers, body), *_ = responses(raw)
    assert status == 408
    assert_json_error(headers, body, "headers stopped arriving")


def test_connections_beyond_the_limit_get_a_json_503(app, monkeypatch):
    monkeypatch.setattr(app.config, "max_connections", 2, raising=False)
    held = [socket.create_connection(("127.0.0.1", app.port), timeout=10) for _ in range(2)]
    try:
        raw = raw_exchange(app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        (status, headers, body), *_ = responses(raw)
        assert status == 503, raw
        assert headers.get("retry-after") == "1"
        assert_json_error(headers, body, "limit of 2 open connections")
    finally:
        for s in held:
            s.close()
    # once they close, requests are served again
    assert wait_for(lambda: request(app, "GET", "/healthz")[0] == 200, 15)


def test_a_malformed_request_is_a_json_400_that_echoes_nothing(app):
    raw = raw_exchange(app, b"GET /<script>alert(1)</script> HTTP/1.1 EXTRA\r\n\r\n")
    (status, headers, body), *_ = responses(raw)
    assert status == 400
    assert b"script" not in raw
    assert_json_error(headers, body, "bad HTTP request")


def test_errors_name_no_path_of_the_server(app, monkeypatch):
    """A failure inside the server (here a file the pipeline cannot read) is a 500 whose body
    says what kind of error it was, not where the server keeps its files."""
    where = app.run_dir.resolve() / "data" / "clean" / "items.parquet"

    def broken(endpoint, qs):
        raise FileNotFoundError(2, "No such file or directory", str(where))

    monkeypatch.setattr(app.pipeline, "handle", broken)
    status, body = request(app, "GET", "/search?q=mug")
    assert status == 500
    assert set(body) == {"error"} and "FileNotFoundError" in body["error"]
    assert str(app.run_dir.resolve()) not in body["error"] and "/tmp" not in body["error"]
