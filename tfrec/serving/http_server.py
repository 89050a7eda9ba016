"""The REST port: the ASGI app (`tfrec.serving.rest`) on uvicorn, in a thread of its own.

The socket is bound and listening when `RestServer` is made, before any model loads, so a port
in use fails at once (`PortUnavailableError`, one line naming it); connections made while the
models load wait in the listen backlog and are served once `start` returns. uvicorn runs its
asyncio loop in a daemon thread (`Server.serve(sockets=[sock])`; no signal handlers there: the
process's SIGTERM is handled by `tfrec.serving.server.serve`).

`stop(grace)` is uvicorn's graceful shutdown: the listener closes (new connections are
refused), idle keep-alive connections close, requests in flight finish and are answered with
`Connection: close`, and after `grace` seconds whatever still runs is cancelled.

The HTTP protocol is uvicorn's h11 one (pure Python, strict parsing; `httptools` would parse
faster, but a request costs milliseconds of model time, not microseconds of parsing) with the
deadlines and limits of `tfrec.serving.http_protocol`.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from tfrec.serving.http_protocol import protocol_class
from tfrec.serving.ports import port_error

BACKLOG = 2048  # clients that connect together wait here rather than retry after a drop


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (0: any free port); a port in use raises
    `PortUnavailableError` naming it.

    Args:
        host: bind address (IPv4 or IPv6, or a name).
        port: the port.

    Example:
        >>> sock = bind_socket("127.0.0.1", 0)
        >>> sock.getsockname()[1] > 0
        True
        >>> sock.close()
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise port_error("REST", host, port, OSError(e.errno, str(e))) from None
    sock = socket.socket(family, kind, proto)
    try:
        # as every server: a port in TIME_WAIT after a restart binds, a listening one does not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise port_error("REST", host, port, e) from None
    sock.set_inheritable(True)
    return sock


class RestServer:
    """An ASGI app served by uvicorn on a socket bound now.

    Args:
        asgi_app: the ASGI application.
        host: bind address.
        port: the port (0: any free port; `self.port` is the one bound).
        limits: timeouts and limits (`request_timeout_seconds`, `idle_timeout_seconds`,
            `keep_alive_seconds`, `max_connections`), e.g. a `ServingConfig`.
        observe: called with the status of each error the HTTP protocol answers itself.

    Example:
        >>> from tfrec.config.schema import ServingConfig
        >>> async def hello(scope, receive, send):
        ...     await send({"type": "http.response.start", "status": 204, "headers": []})
        ...     await send({"type": "http.response.body", "body": b""})
        >>> server = RestServer(hello, "127.0.0.1", 0, ServingConfig()).start()
        >>> import urllib.request
        >>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/").status
        204
        >>> server.stop(grace=1)
    """

    def __init__(self, asgi_app, host: str, port: int, limits, observe=None):
        self.socket = bind_socket(host, port)
        self.port = self.socket.getsockname()[1]
        self.config = uvicorn.Config(
            asgi_app,
            http=protocol_class(limits, observe),
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,  # uvicorn's errors only (a bug in the app), through `logging`
            log_level="error",
            access_log=False,
            server_header=False,  # no `Server: uvicorn`
            proxy_headers=False,  # X-Forwarded-* are not trusted
            backlog=BACKLOG,
            timeout_keep_alive=limits.keep_alive_seconds,
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    def start(self, wait_seconds: float = 30.0) -> RestServer:
        """Serve from a daemon thread; returns once uvicorn accepts connections."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="rest", daemon=True
        )
        self._thread.start()
        end = time.monotonic() + wait_seconds
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the REST server did not start")
            time.sleep(0.01)
        return self

    def open_connections(self) -> int:
        """Connections open now."""
        return len(self.server.server_state.connections)

    def begin_stop(self, grace: float) -> None:
        """Stop accepting; requests in flight get `grace` seconds (returns at once)."""
        if self._thread is None:
            self.socket.close()  # never served
            return
        self.config.timeout_graceful_shutdown = grace
        self.server.should_exit = True

    def join(self, grace: float) -> None:
        """Wait for `begin_stop` to finish (at most `grace` seconds and a margin)."""
        if self._thread is not None:
            self._thread.join(timeout=grace + 5)

    def stop(self, grace: float) -> None:
        """`begin_stop` then `join`."""
        self.begin_stop(grace)
        self.join(grace)
