"""`tfrec serve` stops gracefully on SIGTERM (issue 13: "SIGTERM drops requests in flight"): it
stops accepting, the request in flight completes with a 200, then the process exits 0."""

import copy
import json
import shutil
import signal
import socket
import time

import pytest
from serving_client import ServeProcess, wait_for

from tfrec.config import save_config
from tfrec.core.rundir import RunDir

PREDICT = {
    "signature_name": "retrieval_bruteforce",
    "inputs": {"query": ["mug"], "k": 3},
}


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_then_exits_0(exported_run, tmp_path):
    cfg, run, *_ = exported_run
    root = tmp_path / "run"
    shutil.copytree(run.root, root)
    served = copy.deepcopy(cfg)
    served.serving.idle_timeout_seconds = 60  # the test's pauses are not a stalled client
    served.serving.graceful_stop_seconds = 60
    save_config(served, RunDir(root).config)

    server = ServeProcess(root)
    try:
        body = json.dumps(PREDICT).encode()
        head = (
            f"POST /v1/models/tfrec:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
            s.sendall(head + body[:10])  # in flight: the headers and a part of the body
            time.sleep(1.0)  # the server has read them
            server.proc.send_signal(signal.SIGTERM)
            assert wait_for(lambda: refused(server.port), 30)  # no new connections...
            assert server.proc.poll() is None, server.output  # ...but the request is not done
            s.sendall(body[10:])
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        status_line, _, rest = raw.partition(b"\r\n")
        assert status_line.split()[1] == b"200", raw
        answer = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert len(answer["outputs"]["item_ids"][0]) == 3
        assert server.proc.wait(timeout=60) == 0, server.output
        assert "[serve] SIGTERM: stopping" in server.output
        assert "[serve] stopped" in server.output
    finally:
        server.close()
