"""The REST port on uvicorn (`RestServer`): bound before serving (a port in use fails at once),
graceful stop (in-flight requests finish, new connections are refused, and past the grace a
request still running is cut off with a JSON 503), with a small ASGI app and no model."""

import asyncio
import http.client
import json
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from tfrec.config.schema import ServingConfig
from tfrec.serving.http_server import RestServer
from tfrec.serving.metrics import Metrics
from tfrec.serving.ports import PortUnavailableError
from tfrec.serving.rest import ServingFront


def slow_app(seconds: float, entered: threading.Event):
    """An ASGI app answering 200 `{"slept": seconds}` after `seconds`."""

    async def app(scope, receive, send):
        entered.set()
        await asyncio.sleep(seconds)
        body = json.dumps({"slept": seconds}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return ServingFront(app, SimpleNamespace(api_key=None, metrics=Metrics()))


def call(port: int, out: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/slow")
    resp = conn.getresponse()
    out.append((resp.status, json.loads(resp.read())))
    conn.close()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def start_with_one_request(seconds: float):
    entered = threading.Event()
    server = RestServer(slow_app(seconds, entered), "127.0.0.1", 0, ServingConfig()).start()
    out = []
    client = threading.Thread(target=call, args=(server.port, out))
    client.start()
    assert entered.wait(30)  # the request is in flight
    return server, client, out


def test_a_request_in_flight_finishes_and_new_connections_are_refused():
    server, client, out = start_with_one_request(1.5)
    server.begin_stop(grace=30)
    end = time.monotonic() + 10
    while not refused(server.port) and time.monotonic() < end:
        time.sleep(0.05)
    assert refused(server.port)  # no longer accepting...
    assert not out  # ...while the request is still running
    server.join(grace=30)
    client.join(30)
    assert out == [(200, {"slept": 1.5})]


def test_past_the_grace_a_request_is_cut_off_with_a_json_503():
    server, client, out = start_with_one_request(600)
    t0 = time.monotonic()
    server.stop(grace=1)
    assert time.monotonic() - t0 < 30  # bounded by the grace, not by the request
    client.join(30)
    ((status, body),) = out
    assert status == 503
    assert "ran past its grace period" in body["error"]


def test_a_port_in_use_is_refused_when_the_server_is_made():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortUnavailableError, match=f"REST port {port} on 127.0.0.1"):
            RestServer(slow_app(0, threading.Event()), "127.0.0.1", port, ServingConfig())
