"""TF Serving's REST API plus the product endpoints, on the standard library HTTP server.

    GET  /v1/models/{name}[/versions/{v}]                model version status
    GET  /v1/models/{name}[/versions/{v}]/metadata       signature defs
    POST /v1/models/{name}[/versions/{v}]:predict        {"signature_name", "instances"|"inputs"}
    GET  /recommend?user_id=&session_items=&session_queries=&k=&explain=&mmr_lambda=&category=
    GET  /search?q=&user_id=&session_items=&k=&explain=&mmr_lambda=&category=
    GET  /similar?item_id=&weights=&k=&category=   /complementary?item_id=&cart=&k=&category=
    GET  /bundle?items=&size=
    POST /v1/items                                       {"items": [{"item_id", "title", ...}]}
    GET  /healthz   /metrics (Prometheus text format)

Errors are TF Serving's `{"error": "..."}` with a 4xx status; nothing a client sends takes the
server down.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from tfrec.serving.json_body import parse_json_body
from tfrec.serving.models import ServingError, is_version_name
from tfrec.serving.pipeline import to_json
from tfrec.serving.ports import port_error

MODEL_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:predict)?$"
)
PRODUCT_PATHS = ("/recommend", "/search", "/similar", "/complementary", "/bundle")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counters and latency histograms in Prometheus' text exposition format."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, list[float]] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] = self.requests.get((endpoint, status), 0) + 1
            h = self.latency.setdefault(endpoint, [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, b in enumerate(LATENCY_BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-2] += 1  # count
            h[-1] += seconds  # sum

    def render(self, manager) -> str:
        lines = [
            "# HELP tfrec_requests_total Requests by endpoint and HTTP status.",
            "# TYPE tfrec_requests_total counter",
        ]
        with self._lock:
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'tfrec_requests_total{{endpoint="{endpoint}",code="{status}"}} {n}')
            lines += [
                "# HELP tfrec_request_seconds Request latency.",
                "# TYPE tfrec_request_seconds histogram",
            ]
            for endpoint, h in sorted(self.latency.items()):
                for b, n in zip(LATENCY_BUCKETS, h, strict=False):
                    lines.append(
                        f'tfrec_request_seconds_bucket{{endpoint="{endpoint}",le="{b}"}} {n:g}'
                    )
                lines.append(
                    f'tfrec_request_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {h[-2]:g}'
                )
                lines.append(f'tfrec_request_seconds_count{{endpoint="{endpoint}"}} {h[-2]:g}')
                lines.append(f'tfrec_request_seconds_sum{{endpoint="{endpoint}"}} {h[-1]:.6f}')
        lines += [
            "# HELP tfrec_model_version Served version per model.",
            "# TYPE tfrec_model_version gauge",
        ]
        for name in manager.model_names():
            lines.append(f'tfrec_model_version{{model="{name}"}} {manager.get(name).version}')
        lines += [
            "# HELP tfrec_version_swaps_total Versions swapped in since start.",
            "# TYPE tfrec_version_swaps_total counter",
            f"tfrec_version_swaps_total {manager.swaps}",
            "# HELP tfrec_versions_refused Versions refused (failed to load or warm up).",
            "# TYPE tfrec_versions_refused gauge",
            f"tfrec_versions_refused {manager.refused_count()}",
        ]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# JSON <-> tensors, as TF Serving's REST API encodes them
# --------------------------------------------------------------------------------------------


def _decode_b64(value):
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise ServingError('invalid base64 in a {"b64": ...} value') from None
        raise ServingError(f"unexpected JSON object in a tensor value: {json.dumps(value)[:80]}")
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def json_to_array(name: str, value) -> np.ndarray:
    value = _decode_b64(value)
    try:
        arr = np.array(value)
    except ValueError:
        raise ServingError(f"input '{name}' is ragged: every row needs the same length") from None
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.dtype == object and any(isinstance(x, (list, dict)) for x in arr.ravel()):
        raise ServingError(f"input '{name}' is ragged: every row needs the same length")
    if arr.dtype == object and any(x is None for x in arr.ravel()):
        raise ServingError(f"input '{name}' holds null")
    return arr


def _json_value(arr: np.ndarray):
    if arr.dtype == object:

        def dec(x):
            if isinstance(x, bytes):
                try:
                    return x.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(x).decode()}
            return x

        return np.vectorize(dec, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    return arr.tolist()


def parse_predict(body: dict, input_names: list[str]) -> tuple[dict, bool]:
    """(inputs, row_format) from a predict request body."""
    if not isinstance(body, dict):
        raise ServingError("request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise ServingError("JSON Value: request must have exactly one of 'instances' or 'inputs'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError("'instances' must be a non-empty list")
        if all(isinstance(i, dict) for i in instances):
            keys = set(instances[0])
            if any(set(i) != keys for i in instances):
                raise ServingError("all instances must have the same named inputs")
            return {k: json_to_array(k, [i[k] for i in instances]) for k in keys}, True
        if any(isinstance(i, dict) for i in instances):
            raise ServingError("instances must all be objects or all be values")
        if len(input_names) != 1:
            raise ServingError(
                f"the signature has {len(input_names)} inputs ({', '.join(input_names)}): "
                "each instance must be an object naming them"
            )
        return {input_names[0]: json_to_array(input_names[0], instances)}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        return {k: json_to_array(k, v) for k, v in inputs.items()}, False
    if len(input_names) != 1:
        raise ServingError(
            f"'inputs' must be an object naming the inputs: {', '.join(input_names)}"
        )
    return {input_names[0]: json_to_array(input_names[0], inputs)}, False


def format_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    if not row_format:
        if len(outputs) == 1:
            return {"outputs": _json_value(next(iter(outputs.values())))}
        return {"outputs": {k: _json_value(v) for k, v in outputs.items()}}
    batch = {v.shape[0] if v.ndim else None for v in outputs.values()}
    if len(batch) != 1 or None in batch:
        raise ServingError("outputs do not share a batch size; use the columnar 'inputs' format")
    (n,) = batch
    if len(outputs) == 1:
        return {"predictions": _json_value(next(iter(outputs.values())))}
    cols = {k: _json_value(v) for k, v in outputs.items()}
    return {"predictions": [{k: cols[k][i] for k in cols} for i in range(n)]}


# --------------------------------------------------------------------------------------------
# The handler
# --------------------------------------------------------------------------------------------


def make_handler(app):
    """A request handler class bound to `app` (a `tfrec.serving.server.ServingApp`)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "tfrec-serving"
        protocol_version = "HTTP/1.1"
        timeout = 30
        # TCP_NODELAY: headers and body go out in two writes; with Nagle's algorithm the body
        # waits for the client's delayed ACK (~40 ms per keep-alive request, seen in the bench)
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # quiet: metrics count requests
            pass

        def _send(self, status: int, payload, content_type="application/json"):
            body = (
                payload
                if isinstance(payload, bytes)
                else json.dumps(payload, default=to_json).encode()
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")  # the client must not reuse it
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str):
            t0 = time.perf_counter()
            url = urlparse(self.path)
            endpoint = "/v1/models" if url.path.startswith("/v1/models") else url.path
            status = 500
            self._body_read = False
            try:
                status, payload, ctype = self._route(method, url)
            except ServingError as e:
                status, payload, ctype = e.status, {"error": e.message}, "application/json"
            except Exception as e:  # never let a request kill the server
                status, payload, ctype = (
                    500,
                    {"error": f"{type(e).__name__}: {e}"},
                    "application/json",
                )
            if method == "POST" and not self._body_read:
                # an unread body would be parsed as the next keep-alive request
                self.close_connection = True
            try:
                self._send(status, payload, ctype)
            finally:
                if endpoint not in (
                    *PRODUCT_PATHS,
                    "/v1/items",
                    "/healthz",
                    "/metrics",
                    "/v1/models",
                ):
                    endpoint = "other"
                app.metrics.observe(endpoint, status, time.perf_counter() - t0)

        def _check_auth(self):
            key = app.api_key
            if not key:
                return
            given = self.headers.get("X-API-Key") or ""
            auth = self.headers.get("Authorization") or ""
            if auth.startswith("Bearer "):
                given = given or auth[7:]
            if not hmac.compare_digest(given.encode(), key.encode()):
                raise ServingError(
                    "missing or wrong API key (header X-API-Key)", 401, "UNAUTHENTICATED"
                )

        def _body(self) -> dict:
            length = self.headers.get("Content-Length")
            if length is None:
                raise ServingError("a POST needs a Content-Length header", 411)
            try:
                n = int(length)
            except ValueError:
                n = -1
            if n < 0:
                self.close_connection = True
                raise ServingError(f"bad Content-Length {length!r}")
            if n > app.max_body_bytes:
                self.close_connection = True
                raise ServingError(
                    f"request body of {n} bytes exceeds the limit of {app.max_body_bytes}", 413
                )
            raw = self.rfile.read(n)
            self._body_read = True
            return parse_json_body(raw)

        def _route(self, method: str, url):
            path = url.path
            if path == "/healthz" and method == "GET":
                ok = bool(app.manager.model_names())
                return (
                    (200 if ok else 503),
                    {
                        "status": "ok" if ok else "no model loaded",
                        "models": {
                            n: app.manager.get(n).version for n in app.manager.model_names()
                        },
                    },
                    "application/json",
                )
            self._check_auth()
            if path == "/metrics" and method == "GET":
                return 200, app.metrics.render(app.manager).encode(), "text/plain; version=0.0.4"
            if path == "/v1/items":
                if method != "POST":
                    raise ServingError("/v1/items needs POST", 405)
                return 200, app.add_items(self._body()), "application/json"
            m = MODEL_PATH.match(path)
            if m:
                return self._model_api(method, m)
            if method == "GET" and path in PRODUCT_PATHS:
                qs = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                return 200, app.product(path[1:], qs), "application/json"
            raise ServingError(f"Malformed request: {method} {path}", 404, "NOT_FOUND")

        def _model_api(self, method: str, m):
            name, version, rest = m.group("name"), m.group("version"), m.group("rest")
            if version is not None:
                if not is_version_name(version):
                    raise ServingError(f"Malformed version: {version!r}")
                version = int(version)
            if rest == ":predict":
                if method != "POST":
                    raise ServingError("predict needs POST", 405)
                body = self._body()
                model = app.manager.get(name, version)
                sig_name = body.get("signature_name", "") if isinstance(body, dict) else ""
                _, sig = model.signature(sig_name)
                inputs, rows = parse_predict(body, list(sig.inputs))
                app.check_batch(inputs)
                return 200, format_predict(model.run(sig_name, inputs), rows), "application/json"
            if method != "GET":
                raise ServingError(f"{method} is not supported here", 405)
            if rest == "/metadata":
                return 200, app.metadata_json(name, version), "application/json"
            status = app.manager.status(name)
            if version is not None:
                status = [s for s in status if s["version"] == str(version)]
                if not status:
                    raise ServingError(
                        f"Could not find version {version} of model {name}", 404, "NOT_FOUND"
                    )
            return 200, {"model_version_status": status}, "application/json"

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

    return Handler


class _Server(ThreadingHTTPServer):
    # the listen backlog: socketserver's default of 5 drops the SYNs of clients that connect
    # together (32 at once in the bench) and they retry after 1 s (p95 was 1.2 s)
    request_queue_size = 128
    daemon_threads = True


def make_http_server(app, host: str, port: int) -> ThreadingHTTPServer:
    """The REST server, bound (not yet serving); a port in use raises `PortUnavailableError`
    naming it."""
    try:
        return _Server((host, port), make_handler(app))
    except OSError as e:
        raise port_error("REST", host, port, e) from None
