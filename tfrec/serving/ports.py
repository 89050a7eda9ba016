"""The server's ports, checked first: a port in use fails in a second with one clear line,
before any model loads, and no two servers ever share one.

gRPC's default `SO_REUSEPORT` lets a second server bind a port the first one listens on, and
the kernel then splits the connections between them; tfrec's gRPC server binds without it
(`grpc.so_reuseport` = 0, `GRPC_OPTIONS`), and `ensure_port_free` tries the address with a
plain socket first, so the error names the port instead of gRPC's own log line.
"""

from __future__ import annotations

import errno
import socket

# the gRPC server options that make its port exclusive
GRPC_OPTIONS = (("grpc.so_reuseport", 0),)


class PortUnavailableError(OSError):
    """A port the server needs cannot be bound; the message names the port and the cause."""


def port_error(what: str, host: str, port: int, err: OSError | None = None) -> PortUnavailableError:
    """The one-line error of a port that cannot be bound.

    Example:
        >>> str(port_error("REST", "127.0.0.1", 8501))
        'the REST port 8501 on 127.0.0.1 is already in use (another server?): stop it or choose another port (--port)'
    """
    flag = "--grpc-port" if what == "gRPC" else "--port"
    if err is None or err.errno == errno.EADDRINUSE:
        return PortUnavailableError(
            f"the {what} port {port} on {host} is already in use (another server?): stop it "
            f"or choose another port ({flag})"
        )
    return PortUnavailableError(
        f"cannot bind the {what} port {port} on {host}: {err.strerror or err} ({flag})"
    )


def ensure_port_free(what: str, host: str, port: int) -> None:
    """Raise `PortUnavailableError` when `host:port` cannot be bound now (port 0: any port,
    always free).

    Args:
        what: the front end (`REST`, `gRPC`), named in the error.
        host: the bind address.
        port: the port.

    Example:
        >>> ensure_port_free("gRPC", "127.0.0.1", 0)
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise PortUnavailableError(
            f"cannot resolve the {what} bind address {host!r}: {e}"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        # as the servers bind: TIME_WAIT leftovers do not count, a listener does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise port_error(what, host, port, e) from None
