"""A port in use is found at once, before any model loads, and named in one line: a second
gRPC server can no longer share a port (SO_REUSEPORT split the connections between them)."""

import socket
from concurrent import futures
from types import SimpleNamespace

import grpc
import pytest

from tfrec.cli import main
from tfrec.serving.grpc_service import make_grpc_server
from tfrec.serving.models import ModelManager
from tfrec.serving.ports import PortUnavailableError
from tfrec.serving.server import ServingApp


@pytest.fixture
def busy_port():
    """A port a listening socket holds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def no_model_loading(monkeypatch):
    monkeypatch.setattr(
        ModelManager, "start", lambda self: pytest.fail("models loaded before the port check")
    )


def test_rest_port_in_use_fails_before_the_models_load(exported_run, busy_port, monkeypatch):
    cfg, run, *_ = exported_run
    no_model_loading(monkeypatch)
    app = ServingApp(run.root, port=busy_port, grpc_port=None, config=cfg.serving, run_config=cfg)
    with pytest.raises(
        PortUnavailableError, match=f"REST port {busy_port} on 127.0.0.1 is already"
    ):
        app.start()


def test_grpc_port_in_use_fails_before_the_models_load(exported_run, busy_port, monkeypatch):
    cfg, run, *_ = exported_run
    no_model_loading(monkeypatch)
    app = ServingApp(run.root, port=0, grpc_port=busy_port, config=cfg.serving, run_config=cfg)
    with pytest.raises(PortUnavailableError, match=f"gRPC port {busy_port} on 127.0.0.1"):
        app.start()


@pytest.mark.parametrize("first", ["tfrec", "grpc-default"])
def test_a_second_grpc_server_cannot_share_the_port(first):
    fake_app = SimpleNamespace(max_body_bytes=1 << 20, api_key=None)
    if first == "tfrec":
        server, port = make_grpc_server(fake_app, "127.0.0.1", 0)
    else:  # grpc's defaults (SO_REUSEPORT on), as another process might run it
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(PortUnavailableError, match=f"gRPC port {port} on 127.0.0.1"):
            make_grpc_server(fake_app, "127.0.0.1", port)
    finally:
        server.stop(None).wait()


def test_tfrec_serve_names_the_busy_port_in_one_line(exported_run, busy_port, capsys):
    _, run, *_ = exported_run
    rc = main(["serve", str(run.root), "--port", str(busy_port), "--grpc-port", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == (
        f"error: the REST port {busy_port} on 127.0.0.1 is already in use (another server?): "
        "stop it or choose another port (--port)"
    )
