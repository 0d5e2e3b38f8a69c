"""An ASGI app served by uvicorn on a background thread, with timeouts and bounded connections.

The collector and the Prometheus endpoint run in the same process as the flow (or the Kafka
producer), so each gets its own event loop on a thread. uvicorn parses HTTP/1.1 with h11,
which rejects malformed framing (conflicting `Content-Length`s, non-digit lengths, unknown
transfer codings) with a 400 before the app sees the request. On top of uvicorn this adds
what it leaves to a reverse proxy:

* a request deadline: from the moment a connection waits for a request until its head and
  body have arrived, at most `timeout` seconds (an idle or slowloris socket is closed);
* ambiguous framing refused: a request with both `Transfer-Encoding` and `Content-Length`
  (h11 would follow the former, a proxy in front may follow the latter: request smuggling)
  gets a 400 and the connection is closed;
* a bound on open connections: at the bound, the connection idle the longest (no request in
  flight) is closed to make room, so idle sockets cannot lock out `/health`; when none is
  idle the newcomer gets a 503 and is closed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import threading
import time
from typing import Any

import h11
import uvicorn
from prometheus_client import make_asgi_app
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_TIMEOUT", "BackgroundServer", "serve_metrics"]

DEFAULT_TIMEOUT = 10.0
"""Seconds a client has to send a whole request (head and body) or to send the next one."""

DEFAULT_MAX_CONNECTIONS = 1000
"""Open connections at most per server (lowered to the file-descriptor limit less
`_FD_RESERVE`)."""

_FD_RESERVE = 64
"""File descriptors left for everything but connections (files, Kafka, the flow)."""

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
         b"content-length: 64\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
         + b'{"success":false,"code":"busy","message":"too many connections"}'.ljust(64))

log = logging.getLogger(__name__)


_AMBIGUOUS = (b'{"success":false,"code":"invalid_request","message":"both Transfer-Encoding '
              b'and Content-Length are set: send one of them"}')


def _framing_guard(app: Any) -> Any:
    """ASGI middleware: refuse a request that has both `Transfer-Encoding` and
    `Content-Length` (RFC 9112 6.1: such a message may be an attempt at request smuggling)."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            names = {k for k, _ in scope["headers"]}
            if b"transfer-encoding" in names and b"content-length" in names:
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_AMBIGUOUS)).encode()),
                    (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": _AMBIGUOUS})
                return
        await app(scope, receive, send)

    return guarded


def _protocol(timeout: float, max_connections: int) -> type[H11Protocol]:
    class BoundedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol plus a request deadline and a connection bound."""

        _deadline: asyncio.TimerHandle | None = None
        _since = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections and not self._evict():
                transport.write(_BUSY)
                transport.close()
                self.transport = transport
                return
            super().connection_made(transport)
            self._since = time.monotonic()
            self._watch()

        def _evict(self) -> bool:
            idle = [c for c in self.connections
                    if isinstance(c, BoundedH11Protocol) and c._idle()]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._since)
            oldest.transport.close()
            self.connections.discard(oldest)
            return True

        def _idle(self) -> bool:
            return ((self.cycle is None or self.cycle.response_complete)
                    and self.conn.their_state is h11.IDLE
                    and not self.transport.is_closing())

        def _watch(self) -> None:
            """Arm the deadline while the client owes us a request; disarm once it is in."""
            waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
            if waiting and self._deadline is None:
                self._deadline = self.loop.call_later(timeout, self._expire)
            elif not waiting and self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self.transport.is_closing():
                self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._since = time.monotonic()
            if not self.transport.is_closing():
                self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            if self.flow is None:  # refused at connection_made
                return
            super().connection_lost(exc)

    return BoundedH11Protocol


def _fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Server(uvicorn.Server):
    """uvicorn's server, logging "out of file descriptors" once a minute, not per accept."""

    _warned = -1e9

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(self._exception)
        await super().startup(sockets)

    def _exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning("%s: out of file descriptors (ulimit -n %d); accepting again in "
                            "1 s: raise the limit or lower the connection bound",
                            threading.current_thread().name, _fd_limit())
            return
        loop.default_exception_handler(context)


class BackgroundServer:
    """Serve `app` on `host:port` (0: any free port) from a daemon thread until `stop()`."""

    def __init__(self, app: Any, host: str, port: int, *, name: str = "http",
                 timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if timeout <= 0 or max_connections < 1:
            msg = (f"timeout must be > 0 and max_connections >= 1, got {timeout!r} and "
                   f"{max_connections!r}")
            raise ValueError(msg)
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        self._sock = socket.socket(family, kind, proto)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind(addr)
        except OSError as e:
            self._sock.close()
            msg = f"cannot listen on {host}:{port} ({e.strerror}): choose another port"
            raise OSError(e.errno, msg) from e
        self.host, self.port = self._sock.getsockname()[:2]
        self.name = name
        self.max_connections = min(max_connections, max(1, _fd_limit() - _FD_RESERVE))
        """The bound in force: `max_connections`, or less when the fd limit is lower."""
        config = uvicorn.Config(
            _framing_guard(app), http=_protocol(timeout, self.max_connections), loop="asyncio",
            lifespan="off", interface="asgi3", log_config=None, access_log=False,
            server_header=False, timeout_keep_alive=max(1, round(timeout)),
            timeout_graceful_shutdown=5, backlog=1024, h11_max_incomplete_event_size=16 * 1024)
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)  # one line per bad request

    def start(self) -> BackgroundServer:
        """Start serving; returns once the socket accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=self.name, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                msg = f"{self.name} server on {self.host}:{self.port} failed to start (see log)"
                raise RuntimeError(msg)
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop accepting, finish requests in flight (at most 5 s), close the socket."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()


def serve_metrics(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT,
                  max_connections: int = 100) -> BackgroundServer:
    """Prometheus' `/metrics` (the default registry) on `host:port`, with the same limits."""
    return BackgroundServer(make_asgi_app(), host, port, name="metrics-http", timeout=timeout,
                            max_connections=max_connections).start()
