"""HTTP edges of the collector and of `/metrics`, over raw sockets: framing, timeouts, and
connection bounds (the server is uvicorn + h11, see flows/httpserver.py)."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from flows.collector import Collector, QueueForwarder
from flows.httpserver import serve_metrics

KEY = "http-key"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
EVENT = orjson.dumps({"type": "track", "event": "Product Viewed", "userId": "u-1",
                      "messageId": "m-1", "timestamp": "2026-03-02T10:00:00Z"})
SMUGGLED = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def queue() -> QueueForwarder:
    return QueueForwarder(capacity=1000)


@pytest.fixture(params=["collector", "metrics"])
def server(request: pytest.FixtureRequest, queue: QueueForwarder) -> Iterator[tuple[str, int]]:
    """Both servers, with a short request timeout; yields (kind, port)."""
    if request.param == "collector":
        c = Collector(queue, write_keys=(KEY,), port=0, timeout=0.5).start()
        yield "collector", int(c.url.rsplit(":", 1)[1])
        c.stop()
    else:
        m = serve_metrics("127.0.0.1", 0, timeout=0.5)
        yield "metrics", m.port
        m.stop()


def _path(kind: str) -> bytes:
    return b"/v1/track" if kind == "collector" else b"/metrics"


def _exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _request(kind: str, headers: list[bytes], body: bytes) -> bytes:
    head = [b"POST " + _path(kind) + b" HTTP/1.1", b"Host: 127.0.0.1",
            b"Authorization: " + AUTH.encode(), b"Content-Type: application/json", *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _statuses(raw: bytes) -> list[int]:
    """Status codes of the responses in `raw` (bodies here never contain a status line)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def test_chunked_and_content_length_together_is_refused(server: tuple[str, int],
                                                        queue: QueueForwarder) -> None:
    """The classic smuggling shape: a proxy reading Content-Length would see one request, a
    server reading the chunks two. Refused with 400; the smuggled request is not served."""
    kind, port = server
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
    raw = _exchange(port, _request(kind, [b"Content-Length: %d" % len(chunked),
                                          b"Transfer-Encoding: chunked"], chunked) + SMUGGLED)
    assert _statuses(raw) == [400]
    assert len(queue) == 0


def test_conflicting_content_lengths_are_refused(server: tuple[str, int],
                                                 queue: QueueForwarder) -> None:
    kind, port = server
    raw = _exchange(port, _request(kind, [b"Content-Length: %d" % len(EVENT),
                                          b"Content-Length: 5"], EVENT))
    assert _statuses(raw) == [400]
    assert len(queue) == 0


@pytest.mark.parametrize("length", ["1²".encode(), "١٠".encode(), b"+5", b"0x10", b"-1"])
def test_a_content_length_that_is_not_ascii_digits_is_refused(
        server: tuple[str, int], queue: QueueForwarder, length: bytes) -> None:
    kind, port = server
    raw = _exchange(port, _request(kind, [b"Content-Length: " + length], EVENT))
    assert _statuses(raw) == [400]
    assert len(queue) == 0


def test_chunked_alone_is_served(queue: QueueForwarder) -> None:
    c = Collector(queue, write_keys=(KEY,), port=0, timeout=5).start()
    try:
        port = int(c.url.rsplit(":", 1)[1])
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
        raw = _exchange(port, _request("collector", [b"Transfer-Encoding: chunked",
                                                     b"Connection: close"], chunked))
    finally:
        c.stop()
    assert _statuses(raw) == [200]
    assert len(queue) == 1


@pytest.mark.parametrize("sent", [b"", b"POST /v1/track HTTP/1.1\r\nHost: x\r\n",
                                  b"POST /v1/track HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"])
def test_an_idle_or_slow_connection_is_closed_after_the_timeout(server: tuple[str, int],
                                                                sent: bytes) -> None:
    """Nothing, half a head, or half a body: closed once the request timeout passed (the
    socket's own timeout, 10 s, would raise instead)."""
    _, port = server
    raw = _exchange(port, sent, timeout=10.0)
    assert b"200" not in raw


def test_keep_alive_connection_serves_requests_then_closes_when_idle(
        queue: QueueForwarder) -> None:
    c = Collector(queue, write_keys=(KEY,), port=0, timeout=0.5).start()
    try:
        port = int(c.url.rsplit(":", 1)[1])
        one = _request("collector", [b"Content-Length: %d" % len(EVENT)], EVENT)
        raw = _exchange(port, one + one.replace(b"m-1", b"m-2"))
    finally:
        c.stop()
    assert _statuses(raw) == [200, 200]
    assert len(queue) == 2


def _health(port: int) -> int:
    raw = _exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return _statuses(raw)[0]


def test_idle_sockets_beyond_the_bound_do_not_lock_out_health(queue: QueueForwarder) -> None:
    c = Collector(queue, port=0, timeout=60, max_connections=50).start()
    port = int(c.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    try:
        assert _health(port) == 200
        assert _health(port) == 200
    finally:
        for s in idle:
            s.close()
        c.stop()


def _spawn(code: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, log.read_text()
    return proc, int(line)


@pytest.mark.parametrize("make", ["collector", "metrics"])
def test_300_idle_sockets_under_ulimit_256_do_not_lock_out_the_server(make: str,
                                                                      tmp_path: Path) -> None:
    """The attack as reported: `ulimit -n 256`, 300 idle sockets, then /health."""
    server = ("Collector(QueueForwarder(10), port=0, timeout=60, max_connections=200).start()"
              if make == "collector" else "serve_metrics('127.0.0.1', 0, timeout=60, "
              "max_connections=200)")
    port_of = "int(s.url.rsplit(':', 1)[1])" if make == "collector" else "s.port"
    proc, port = _spawn(f"""
        import resource, time
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        from flows.collector import Collector, QueueForwarder
        from flows.httpserver import serve_metrics
        s = {server}
        print({port_of}, flush=True)
        time.sleep(300)
        """, tmp_path / "server.log")
    idle: list[socket.socket] = []
    try:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
        path = b"/health" if make == "collector" else b"/metrics"
        raw = _exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _statuses(raw) == [200]
        assert proc.poll() is None
        assert len((tmp_path / "server.log").read_text().splitlines()) <= 2  # no traceback
    finally:
        for s in idle:
            s.close()
        proc.kill()
        proc.communicate()


def test_a_wrong_basic_key_is_refused_before_the_body_is_read(queue: QueueForwarder) -> None:
    """401 arrives although the client has sent none of its (declared 400 KB) body."""
    c = Collector(queue, write_keys=(KEY,), port=0, timeout=30).start()
    try:
        port = int(c.url.rsplit(":", 1)[1])
        bad = "Basic " + base64.b64encode(b"wrong:").decode()
        head = (b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: " + bad.encode()
                + b"\r\nContent-Length: 400000\r\n\r\n")
        raw = _exchange(port, head)
    finally:
        c.stop()
    assert _statuses(raw) == [401]
    assert len(queue) == 0
