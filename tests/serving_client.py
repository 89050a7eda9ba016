"""HTTP helpers the serving tests share (tests/serving/*): requests to a running `ServingApp`,
results as the server's JSON, waiting for a condition, `tfrec serve` in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from tfrec.serving.pipeline import to_json

REPO = Path(__file__).resolve().parents[1]


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


class ServeProcess:
    """`tfrec serve ROOT --port 0 --grpc-port 0 [args]` in a subprocess, its output collected
    line by line; `port` is the REST port it printed."""

    def __init__(self, root, *args: str, wait_s: float = 300):
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tfrec.cli", "serve", str(root), "--port", "0"]
            + ["--grpc-port", "0", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()
        assert wait_for(lambda: self.port or self.proc.poll() is not None, wait_s), self.output
        assert self.port, self.output

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def port(self):
        found = re.search(r"\[serve\] REST http://127\.0\.0\.1:(\d+)", self.output)
        return int(found.group(1)) if found else None

    def kill(self):
        """SIGKILL: no clean-up of any kind."""
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
