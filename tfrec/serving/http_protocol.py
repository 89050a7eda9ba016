"""uvicorn's HTTP/1.1 protocol (h11) with what a server facing the public needs and uvicorn
leaves out: whole-request deadlines, a connection limit, and JSON for the errors the protocol
answers itself.

- A request's headers and body must arrive within `request_timeout_seconds` of its first byte
  (of the connection, for its first request): a client sending a byte every few seconds is cut
  off with a 408. uvicorn alone times out only idle keep-alive connections, so a slow sender
  held its connection for as long as it kept sending.
- A request in progress that sends nothing for `idle_timeout_seconds` is answered at once: a
  body short of its Content-Length with a 400 naming the bytes received and declared, headers
  that stop with a 408. A connection that sends nothing at all is closed.
- At most `max_connections` connections are open: each request on a connection beyond it gets a
  503 (and `Retry-After`), then the connection closes. uvicorn's own `limit_concurrency`
  answers that with a text/plain page; this one answers JSON.
- A request h11 cannot parse (a negative Content-Length, a bad request line, the rest of a body
  longer than its Content-Length taken for a next request) gets a JSON 400 (431, 501 where h11
  says so) naming the rule it broke, never echoing the bytes sent; the connection closes.

Limits are read per connection from a live object (the server's `ServingConfig`), so a test or
an operator changing them affects the next connection.
"""

from __future__ import annotations

import http
import re

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from tfrec.serving.errors import error_json

# the part of an h11 error message before the bytes it quotes (`illegal header line: b'...'`)
_QUOTED = re.compile(r":\s*(?:b'|b\"|bytearray\().*", re.S)


class _Connection(h11.Connection):
    """h11's server connection, remembering its last parse error and counting the body bytes
    of the request being received."""

    def __init__(self, max_incomplete_event_size: int):
        super().__init__(h11.SERVER, max_incomplete_event_size)
        self.error: h11.RemoteProtocolError | None = None
        self.body_bytes = 0

    def next_event(self):
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as e:
            self.error = e
            raise
        if isinstance(event, h11.Request):
            self.body_bytes = 0
        elif isinstance(event, h11.Data):
            self.body_bytes += len(event.data)
        return event


class GuardedH11Protocol(H11Protocol):
    """`H11Protocol` with request deadlines, a connection limit and JSON protocol errors.

    Subclassed by `protocol_class`, which sets `limits` (an object with
    `request_timeout_seconds`, `idle_timeout_seconds` and `max_connections`) and `observe`
    (called with the status of each error this protocol answers itself).
    """

    limits = None
    observe = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = _Connection(size)
        self._began: float | None = None  # loop time of the first byte of the request
        self._last = 0.0  # loop time of the last byte received
        self._timer = None
        self._request_timeout = float(self.limits.request_timeout_seconds)
        self._idle_timeout = float(self.limits.idle_timeout_seconds)

    # --- connection life ---------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        limit = int(self.limits.max_connections)
        if len(self.connections) > limit:  # this one included
            self.app = _over_limit(limit, self.observe)
        self._begin()  # the first request's clock runs from the connection

    def connection_lost(self, exc) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last = self.loop.time()
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    # --- deadlines ---------------------------------------------------------------------------

    def _receiving(self) -> bool:
        """A request is on its way in: headers begun, or a body not complete."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        return state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _watch(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._cancel()
        elif not self._receiving():
            # complete (the app has it) or idle between requests (uvicorn's keep-alive timer)
            self._cancel()
            self._began = None
        elif self._began is None:
            self._begin()

    def _begin(self) -> None:
        self._began = self._last = self.loop.time()
        self._schedule()

    def _schedule(self) -> None:
        self._cancel()
        due = min(self._began + self._request_timeout, self._last + self._idle_timeout)
        self._timer = self.loop.call_at(due, self._check)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._began is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow is not None and self.flow.read_paused:
            self._last = now  # the server stopped reading (the app has not taken the body yet)
        if now >= self._began + self._request_timeout:
            self._expire(idle=False)
        elif now >= self._last + self._idle_timeout:
            self._expire(idle=True)
        else:
            self._schedule()

    def _expire(self, idle: bool) -> None:
        state = self.conn.their_state
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (say a 413 before the body): just close
        elif state is h11.IDLE and not self.conn.trailing_data[0]:
            self.transport.close()  # nothing was sent: nothing to answer
        elif state is h11.SEND_BODY and idle:
            declared = dict(self.headers).get(b"content-length")
            got = self.conn.body_bytes
            if declared is not None:
                message = (
                    f"the request body stopped after {got} of the {int(declared)} bytes its "
                    f"Content-Length declares (nothing more for {self._idle_timeout:g} s)"
                )
            else:
                message = (
                    f"the chunked request body stopped after {got} bytes without its last "
                    f"chunk (nothing more for {self._idle_timeout:g} s)"
                )
            self._reply(400, message)
        elif idle:
            self._reply(
                408, f"the request headers stopped arriving (nothing for {self._idle_timeout:g} s)"
            )
        else:
            self._reply(
                408,
                f"the request did not arrive in full within {self._request_timeout:g} s "
                "(serving.request_timeout_seconds)",
            )

    # --- answers of the protocol itself -----------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot parse: JSON, the rule broken, no echo."""
        err = self.conn.error
        if err is None:
            self._reply(400, msg)
            return
        rule = _QUOTED.sub("", str(err)).strip() or "malformed request"
        self._reply(err.error_status_hint or 400, f"bad HTTP request: {rule}")

    def _reply(self, status: int, message: str, headers: tuple = ()) -> None:
        """Write a JSON error response and close the connection (whatever h11's state: the
        request may not even have complete headers)."""
        self._cancel()
        self._began = None
        if self.transport.is_closing():
            return
        body = error_json(message)
        lines = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode(),
            *(b"%s: %s" % (k, v) for k, v in self.server_state.default_headers),
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"connection: close",
            *headers,
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        if self.cycle is not None and not self.cycle.response_complete:
            # the app's task sees a disconnect; what it sends is dropped
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
        if self.observe is not None:
            self.observe(status)


def _over_limit(limit: int, observe):
    """The ASGI app a connection beyond the limit gets: a JSON 503 to each request, then close."""
    body = error_json(
        f"the server holds its limit of {limit} open connections (serving.max_connections); "
        "retry shortly"
    )

    async def app(scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"retry-after", b"1"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        if observe is not None:
            observe(503)

    return app


def protocol_class(limits, observe=None) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (`uvicorn.Config(http=...)`).

    Args:
        limits: an object with `request_timeout_seconds`, `idle_timeout_seconds` and
            `max_connections` (read as each connection opens), e.g. a `ServingConfig`.
        observe: called with the status of each error the protocol answers itself (for the
            request metrics), or None.

    Example:
        >>> from tfrec.config.schema import ServingConfig
        >>> protocol_class(ServingConfig()).limits.max_connections
        512
    """
    return type(
        "ServingH11Protocol",
        (GuardedH11Protocol,),
        {"limits": limits, "observe": staticmethod(observe) if observe else None},
    )
