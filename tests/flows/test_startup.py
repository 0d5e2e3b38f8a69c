"""Start-up against an unreachable broker: retried with backoff, then one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.flows.test_collector import _free_port


@pytest.mark.parametrize("command", [["collect", "--metrics-port", "0"],
                                     ["run", "--source", "kafka", "--metrics-port", "0"],
                                     ["forget", "--user-id", "u-1"]])
def test_an_unreachable_broker_ends_in_one_clear_line(command: list[str]) -> None:
    broker = f"127.0.0.1:{_free_port()}"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", *command, "--brokers", broker,
         "--kafka-timeout", "3", "--secret", "test-secret"],
        capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    # librdkafka's own background threads may log (lines starting "%N|") after ours
    last = [line for line in err.strip().splitlines() if not line.startswith("%")][-1]
    assert last.startswith(f"journey: cannot reach Kafka at '{broker}'"), err
    assert "--brokers" in last
