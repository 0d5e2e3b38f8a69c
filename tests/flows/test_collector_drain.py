"""Graceful drain: SIGINT or SIGTERM under load, and --collector-limit. Real processes, real
HTTP load from threads; every event answered 200 must be processed or dead-lettered."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.flows.kafka_util import BROKERS, consume, kafka_settings_for_test, read_to_end
from tests.flows.test_collector import _free_port, _reaped, _wait_healthy

KEY = "drain-key"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


@dataclass
class Tally:
    """What the clients were told, in events."""

    acknowledged: int = 0
    rejected: int = 0
    acked_ids: set[str] = field(default_factory=set)
    refused_503: int = 0
    unknown: int = 0
    sent_batches: int = 0
    after_drain_200: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _batch(worker: int, n: int, size: int) -> bytes:
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    events: list[dict[str, Any]] = [
        {"type": "track", "event": "Product Viewed", "userId": f"u-{worker}-{i % 50}",
         "messageId": f"w{worker}-b{n}-e{i}", "timestamp": ts,
         "properties": {"product_id": f"p{i}", "price": 10.0}} for i in range(size)]
    if n % 5 == 0:
        del events[0]["userId"]  # one bad event in every fifth batch: dead-lettered
    return orjson.dumps({"batch": events})


def _client(port: int, worker: int, tally: Tally, stop: threading.Event,
            drain_began: threading.Event, size: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        _send(conn, worker, tally, stop, drain_began, size)
    finally:
        conn.close()


def _send(conn: http.client.HTTPConnection, worker: int, tally: Tally, stop: threading.Event,
          drain_began: threading.Event, size: int) -> None:
    n = 0
    while not stop.is_set():
        body = _batch(worker, n, size)
        try:
            conn.request("POST", "/v1/batch", body, {"Authorization": AUTH,
                                                     "Content-Type": "application/json"})
        except OSError:  # not sent: the server is gone
            return
        try:
            resp = conn.getresponse()
            reply = orjson.loads(resp.read())
        except (OSError, http.client.HTTPException):
            with tally.lock:
                tally.unknown += size  # sent, but no answer: we cannot know
            return
        with tally.lock:
            tally.sent_batches += 1
            if resp.status in (200, 400):
                refused = {r["index"] for r in reply.get("rejected", [])}
                rejected = len(refused)
                tally.acknowledged += size - rejected
                tally.acked_ids.update(f"w{worker}-b{n}-e{i}" for i in range(size)
                                       if i not in refused)
                tally.rejected += rejected
                if drain_began.is_set() and resp.status == 200:
                    tally.after_drain_200 += 1
            elif resp.status == 503:
                tally.refused_503 += 1
                return
            elif resp.status != 429:
                pytest.fail(f"unexpected {resp.status}: {reply}")
        if resp.status == 429:
            time.sleep(0.05)
            continue
        n += 1


def _load(port: int, workers: int, size: int) -> tuple[Tally, threading.Event,
                                                      threading.Event, list[threading.Thread]]:
    tally, stop, drain_began = Tally(), threading.Event(), threading.Event()
    threads = [threading.Thread(target=_client, args=(port, w, tally, stop, drain_began, size),
                                daemon=True) for w in range(workers)]
    for t in threads:
        t.start()
    return tally, stop, drain_began, threads


def _summary(stderr: bytes) -> dict[str, Any]:
    text = stderr.decode()
    return orjson.loads(text[text.index("\n{") + 1:])


def _wait_for(tally: Tally, acknowledged: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while tally.acknowledged < acknowledged:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)


def _run(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--source", "collector",
         "--collector-port", str(port), "--write-keys", KEY, "--out",
         str(tmp_path / "decisions.jsonl"), "--dead-letters", str(tmp_path / "dead.jsonl"),
         "--metrics-port", "0", "--no-progress", "--collector-capacity", "2000",
         "--collector-dead-letter-budget", "0", *extra],
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})


def _hit_under_load(port: int, proc: subprocess.Popen[bytes], hit: Any | None, *,
                    size: int = 25) -> tuple[Tally, bytes]:
    """Load the collector from 4 clients; once 3,000 events were acknowledged, `hit` it (a
    signal, a kill; None: let it end by itself) and wait for it to exit."""
    with _reaped(proc):
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        tally, stop, drain_began, threads = _load(port, workers=4, size=size)
        if hit is not None:
            _wait_for(tally, 3000, proc)
            drain_began.set()
            hit()
        _, stderr = proc.communicate(timeout=120)
        stop.set()
        for t in threads:
            t.join(60)
    return tally, stderr


def _collect(s: Any, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "collect", "--brokers", BROKERS,
         "--events-topic", s.events_topic, "--dead-letter-topic", s.dead_letter_topic,
         "--collector-port", str(port), "--write-keys", KEY, "--metrics-port", "0", *extra],
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_under_load_drains_the_embedded_flow(tmp_path: Path, sig: int) -> None:
    port = _free_port()
    proc = _run(tmp_path, port)
    tally, stderr = _hit_under_load(port, proc, lambda: proc.send_signal(sig))
    assert proc.returncode == 0, stderr.decode()
    summary = _summary(stderr)
    assert tally.unknown == 0
    assert tally.refused_503 >= 1  # clients were told to go away, not left hanging
    assert tally.acknowledged >= 3000
    # every event acknowledged was processed; every event rejected was dead-lettered
    assert summary["events"] == tally.acknowledged
    assert summary["dead_letters"] == tally.rejected
    assert summary["collector"]["acknowledged"] == tally.acknowledged
    dead = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert len(dead) == tally.rejected


def test_the_collector_limit_is_never_exceeded(tmp_path: Path) -> None:
    port = _free_port()
    proc = _run(tmp_path, port, "--collector-limit", "1010")
    tally, stderr = _hit_under_load(port, proc, None, size=20)
    assert proc.returncode == 0, stderr.decode()
    summary = _summary(stderr)
    assert tally.unknown == 0 and tally.refused_503 >= 1
    assert tally.acknowledged + tally.rejected <= 1010
    assert summary["events"] == tally.acknowledged
    assert summary["dead_letters"] == tally.rejected


@pytest.mark.kafka
@pytest.mark.skipif(not BROKERS, reason="needs JOURNEY_TEST_BROKERS")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_journey_collect_delivers_everything_acknowledged_on_a_signal(sig: int) -> None:
    s = kafka_settings_for_test()
    port = _free_port()
    proc = _collect(s, port, "--collector-dead-letter-budget", "0")
    tally, stderr = _hit_under_load(port, proc, lambda: proc.send_signal(sig))
    assert proc.returncode == 0, stderr.decode()
    summary = _summary(stderr)
    assert tally.unknown == 0 and tally.refused_503 >= 1
    assert summary["acknowledged"] == tally.acknowledged and summary["undelivered"] == 0
    events = consume(s.events_topic, tally.acknowledged, timeout=60)
    dead = consume(s.dead_letter_topic, tally.rejected, timeout=30)
    assert len({m.value() for m in events}) == len(events) == tally.acknowledged
    assert len(dead) == tally.rejected


@pytest.mark.kafka
@pytest.mark.skipif(not BROKERS, reason="needs JOURNEY_TEST_BROKERS")
def test_a_kill_9_of_journey_collect_loses_nothing_acknowledged() -> None:
    """SIGKILL under load: no drain, no flush; every event answered 200 is in the events
    topic already (a 200 waits for the broker's acknowledgement)."""
    s = kafka_settings_for_test()
    port = _free_port()
    proc = _collect(s, port)
    tally, _ = _hit_under_load(port, proc, proc.kill)
    assert proc.returncode == -signal.SIGKILL
    stored = {orjson.loads(m.value())["messageId"] for m in read_to_end(s.events_topic)}
    with tally.lock:
        acked = set(tally.acked_ids)
    assert len(acked) >= 3000 and acked <= stored, len(acked - stored)
