"""HTTP helpers the serving tests share (tests/serving/*): requests to a running `ServingApp`,
results as the server's JSON, waiting for a condition."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from tfrec.serving.pipeline import to_json


def http(app, method, path, body=None, headers=None, raw=None):
    """(status, parsed JSON body) of one request to `app` (errors included)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{app.port}{path}", data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def get(app, endpoint: str, **params):
    """GET `/<endpoint>?<params>`."""
    return http(app, "GET", f"/{endpoint}?{urlencode(params)}")


def as_json(result: dict) -> dict:
    """An in-process result as the server would send it."""
    return json.loads(json.dumps(result, default=to_json))


def wait_for(cond, seconds=60):
    """True as soon as `cond()` is, False after `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False
