"""scripts/kafka.sh never leaves a broker behind: one that misses its readiness window is
stopped before the script fails (a real JVM on its own port and data directory)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.kafka_util import BROKERS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(not BROKERS, reason="JOURNEY_TEST_BROKERS not set (the "
                                 "broker jars are fetched by the script that starts it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_broker_that_misses_its_readiness_window_is_stopped(tmp_path):
    """A window of 0 s is missed by every broker, however fast the machine: a window of 1 s
    was met by a fast one (KRaft answers within a second there), so the test proved nothing
    and failed."""
    data = tmp_path / "kafka"
    env = {**os.environ, "KAFKA_PORT": str(_free_port()), "KAFKA_DATA_DIR": str(data),
           "KAFKA_READY_TIMEOUT": "0", "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start"], env=env,
                          capture_output=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    assert b"did not become ready" in proc.stderr and b"stopping it" in proc.stderr
    pid = int((data / "broker.pid").read_text())
    deadline = time.monotonic() + 30  # halt waits for the process; this is only a margin
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"broker {pid} left running"


def test_a_port_taken_by_another_broker_is_refused(tmp_path):
    """Readiness is probed over TCP, so another broker on the port would pass for ours: the
    script refuses to start instead of reporting someone else's broker as its own."""
    port = BROKERS.rsplit(":", 1)[1]
    data = tmp_path / "kafka"
    env = {**os.environ, "KAFKA_PORT": port, "KAFKA_DATA_DIR": str(data),
           "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start"], env=env,
                          capture_output=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1
    assert b"a Kafka broker that is not this one already answers" in proc.stderr
    assert not (data / "broker.pid").exists()
