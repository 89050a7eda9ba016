"""TF Serving's REST API plus the shop endpoints, as an ASGI app (Starlette), served by uvicorn
(`tfrec.serving.http_server`).

    GET  /v1/models/{name}[/versions/{v}]                model version status
    GET  /v1/models/{name}[/versions/{v}]/metadata       signature defs
    POST /v1/models/{name}[/versions/{v}]:predict        {"signature_name", "instances"|"inputs"}
    GET  /recommend?user_id=&session_items=&session_queries=&k=&explain=&mmr_lambda=&category=
    GET  /search?q=&user_id=&session_items=&k=&explain=&mmr_lambda=&category=&retriever=
    GET  /similar?item_id=&weights=&k=&category=   /complementary?item_id=&cart=&k=&category=
    GET  /bundle?items=&size=
    POST /v1/items                                       {"items": [{"item_id", "title", ...}]}
    GET  /healthz   /metrics (Prometheus text format)   /openapi.json   /ui[/...] (the web UI)
    GET  /status   /history?user_id=&k=                  what is served (tfrec.serving.status)

Every error is TF Serving's `{"error": "..."}` as JSON, whatever the status: 400 and 404 from
the models and the shop, 401 (API key), 405 (a known path, another method; `Allow` says which),
411, 413 (body over `serving.max_body_bytes`), 501 (a method HTTP does not define), 503, and
500 for a bug (the message names no file; the server log has the traceback). Paths of the
server's disk are rewritten out of every message (`tfrec.serving.errors`). Starlette was chosen
over FastAPI: the endpoints validate their parameters themselves with TF Serving's error
messages (FastAPI's 422 bodies would break that format), and the OpenAPI description is
written from the same parameter lists (`tfrec.serving.openapi`) without pydantic.

Model and shop work runs in a thread pool of `serving.threads` threads (TF Serving's
`--rest_api_num_threads`; TensorFlow releases the GIL), the event loop only reads bodies and
writes answers; requests beyond the threads wait their turn in the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import importlib.util
import json
import re
import time
import traceback

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tfrec.core.log import echo
from tfrec.serving.errors import error_json
from tfrec.serving.json_body import parse_json_body
from tfrec.serving.models import ServingError, is_version_name
from tfrec.serving.openapi import openapi_document
from tfrec.serving.pipeline import to_json
from tfrec.serving.status import VIEWS, serving_view
from tfrec.serving.tensor_json import format_predict, parse_predict

# the web UI (tfrec.serving.ui, issue 15) is its own package; a build without it answers /ui 404
if importlib.util.find_spec("tfrec.serving.ui") is not None:
    from tfrec.serving.ui import ui_response
else:
    ui_response = None

MODEL_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:predict)?$"
)
PRODUCT_PATHS = ("/recommend", "/search", "/similar", "/complementary", "/bundle")
METRIC_ENDPOINTS = (*PRODUCT_PATHS, "/v1/items", "/healthz", "/metrics", "/openapi.json")
METRIC_ENDPOINTS += tuple(f"/{v}" for v in VIEWS)  # /status, /history
# the methods HTTP defines (RFC 9110, and PATCH): any other is a 501, these a 404 or 405
HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
)
JSON = "application/json"


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    """`payload` as TF Serving writes JSON (numpy values as numbers and lists)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, default=to_json).encode()
    return Response(body, status, headers=headers, media_type=JSON)


class ServingFront:
    """The outer ASGI layer: 501 for a method HTTP does not define, the API key (every path but
    `GET /healthz`), and the request metrics by endpoint and status.

    Args:
        app: the inner ASGI app (Starlette's middleware stack).
        serving: the `ServingApp` (its `api_key`, `metrics`, `redact`).
    """

    def __init__(self, app, serving):
        self.app = app
        self.serving = serving

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        path, method = scope["path"], scope["method"]
        status = [0]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            error = self._refuse(method, path, scope)
            if error is not None:
                await error(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            # a graceful stop whose grace ran out: say so (JSON), then let the task end
            if not status[0]:
                cut = "the server is stopping and this request ran past its grace period"
                await json_response(error_json(cut), 503, {"Connection": "close"})(
                    scope, receive, send_status
                )
            raise
        finally:
            if path.startswith("/v1/models"):
                endpoint = "/v1/models"
            elif path == "/ui" or path.startswith("/ui/"):
                endpoint = "/ui"
            else:
                endpoint = path if path in METRIC_ENDPOINTS else "other"
            self.serving.metrics.observe(endpoint, status[0] or 500, time.perf_counter() - t0)

    def _refuse(self, method: str, path: str, scope) -> Response | None:
        if method not in HTTP_METHODS:
            return json_response(
                error_json(f"method {method} is not implemented; this server answers GET and POST"),
                501,
            )
        key = self.serving.api_key
        if not key or (path == "/healthz" and method in ("GET", "HEAD")):
            return None
        given, auth = "", ""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value.decode("latin-1")
            elif name == b"authorization":
                auth = value.decode("latin-1")
        if not given and auth.startswith("Bearer "):
            given = auth[7:]
        elif not given and auth.startswith("Basic "):  # a browser's login (the web UI)
            given = basic_password(auth[6:])
        if hmac.compare_digest(given.encode("latin-1"), key.encode()):
            return None
        # WWW-Authenticate: a browser opening /ui asks for the key (any user name, the key as
        # password) and sends it with the page's API calls
        return json_response(
            error_json("missing or wrong API key (header X-API-Key)"),
            401,
            {"WWW-Authenticate": 'Basic realm="tfrec", charset="UTF-8"'},
        )


def basic_password(credentials: str) -> str:
    """The password of HTTP Basic credentials (`base64(user:password)`); "" when malformed."""
    try:
        return base64.b64decode(credentials, validate=True).decode().partition(":")[2]
    except ValueError:  # bad base64 or UTF-8
        return ""


def make_rest_app(serving) -> Starlette:
    """The REST API of a `ServingApp` as an ASGI app.

    Args:
        serving: the `ServingApp` (manager, pipeline, metrics, config, api_key, redact).

    Returns:
        the ASGI app (Starlette behind `ServingFront`).

    Example:
        >>> app = ServingApp("runs/quickstart", port=0, grpc_port=None)  # doctest: +SKIP
        >>> asgi = make_rest_app(app)  # doctest: +SKIP
    """
    redact = serving.redact
    document = json.dumps(openapi_document(serving.config)).encode()

    limiter = anyio.CapacityLimiter(serving.config.threads)

    async def run_in_threadpool(fn, *args):
        """`fn(*args)` on one of the `serving.threads` worker threads."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)

    def error(status: int, message: str, headers: dict | None = None) -> Response:
        return json_response(error_json(message, redact), status, headers)

    def endpoint(fn):
        """An endpoint whose errors are JSON: a `ServingError` its status, anything else 500."""

        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except ServingError as e:
                close = {"Connection": "close"} if e.status in (411, 413) else None
                return error(e.status, e.message, close)
            except ClientDisconnect:  # the client left (or was cut off): nobody reads this
                return error(400, "the client disconnected before the request was complete")
            except Exception as e:  # never let a request kill the server
                echo(
                    f"[serve] {request.method} {request.scope['path']} failed: "
                    f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                )
                return error(500, f"internal error ({type(e).__name__}); see the server log")

        return wrapped

    async def read_json(request: Request):
        """The body, parsed in the thread pool; over `max_body_bytes`: 413 before reading."""
        limit = serving.max_body_bytes
        length = request.headers.get("content-length")
        if length is None and "chunked" not in request.headers.get("transfer-encoding", ""):
            raise ServingError("a POST needs a Content-Length header", 411)
        if length is not None and int(length) > limit:  # h11 checked it is a number
            raise ServingError(
                f"request body of {int(length)} bytes exceeds the limit of {limit}", 413
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ServingError(f"request body exceeds the limit of {limit} bytes", 413)
            chunks.append(chunk)
        return await run_in_threadpool(parse_json_body, b"".join(chunks))

    @endpoint
    async def healthz(request: Request) -> Response:
        names = serving.manager.model_names()
        models = {n: serving.manager.get(n).version for n in names}
        ok = bool(names)
        return json_response(
            {"status": "ok" if ok else "no model loaded", "models": models}, 200 if ok else 503
        )

    @endpoint
    async def metrics(request: Request) -> Response:
        text = serving.metrics.render(serving.manager)
        return Response(text, media_type="text/plain; version=0.0.4")

    @endpoint
    async def openapi(request: Request) -> Response:
        return json_response(document)

    @endpoint
    async def add_items(request: Request) -> Response:
        body = await read_json(request)
        return json_response(await run_in_threadpool(serving.add_items, body))

    @endpoint
    async def product(request: Request) -> Response:
        qs = dict(request.query_params)  # a repeated parameter: its last value
        name = request.scope["path"][1:]
        return json_response(await run_in_threadpool(serving.product, name, qs))

    @endpoint
    async def view(request: Request) -> Response:
        qs = dict(request.query_params)
        name = request.scope["path"][1:]
        return json_response(await run_in_threadpool(serving_view, serving, name, qs))

    @endpoint
    async def models(request: Request) -> Response:
        method, path = request.method, request.scope["path"]
        m = MODEL_PATH.match(path)
        if not m:
            raise ServingError(f"Malformed request: {method} {path}", 404, "NOT_FOUND")
        name, version, rest = m.group("name"), m.group("version"), m.group("rest")
        if version is not None:
            if not is_version_name(version):
                raise ServingError(f"Malformed version: {version!r}")
            version = int(version)
        if rest == ":predict":
            if method != "POST":
                raise ServingError("predict needs POST", 405)
            body = await read_json(request)
            return json_response(await run_in_threadpool(predict, name, version, body))
        if method not in ("GET", "HEAD"):
            raise ServingError(f"{method} is not supported here", 405)
        if rest == "/metadata":
            return json_response(await run_in_threadpool(serving.metadata_json, name, version))
        return json_response({"model_version_status": model_status(name, version)})

    def predict(name: str, version: int | None, body) -> dict:
        model = serving.manager.get(name, version)
        sig_name = body.get("signature_name", "") if isinstance(body, dict) else ""
        _, sig = model.signature(sig_name)
        inputs, rows = parse_predict(body, list(sig.inputs))
        serving.check_batch(inputs)
        return format_predict(model.run(sig_name, inputs), rows)

    def model_status(name: str, version: int | None) -> list[dict]:
        status = serving.manager.status(name)
        if version is not None:
            status = [s for s in status if s["version"] == str(version)]
            if not status:
                raise ServingError(
                    f"Could not find version {version} of model {name}", 404, "NOT_FOUND"
                )
        for s in status:  # a refused version's load error names its directory
            s["status"]["error_message"] = redact(s["status"]["error_message"])
        return status

    @endpoint
    async def ui(request: Request) -> Response:
        if ui_response is None:
            raise ServingError("the web UI is not part of this build", 404, "NOT_FOUND")
        status, body, content_type = await run_in_threadpool(ui_response, request.scope["path"])
        return Response(body, status, media_type=content_type)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own 404 (no route) and 405 (a route, another method) as JSON."""
        method, path = request.method, request.scope["path"]
        if exc.status_code == 404:
            return error(404, f"Malformed request: {method} {path}")
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            return error(405, f"{method} is not allowed on {path}; use {allow}", exc.headers)
        return error(exc.status_code, str(exc.detail), exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        echo(f"[serve] {request.method} {request.scope['path']}: {type(exc).__name__}: {exc}")
        return error(500, f"internal error ({type(exc).__name__}); see the server log")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/items", add_items, methods=["POST"]),
        *(Route(p, product, methods=["GET"]) for p in PRODUCT_PATHS),
        *(Route(f"/{v}", view, methods=["GET"]) for v in VIEWS),  # /status, /history
        Route("/v1/models/{rest:path}", models, methods=["GET", "POST"]),
        Route("/ui", ui, methods=["GET"]),
        Route("/ui/{rest:path}", ui, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.router.redirect_slashes = False  # `/search/` is not `/search`: a 404, as TF Serving
    return ServingFront(app, serving)
