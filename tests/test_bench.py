"""`python -m bench --quick`: the benchmark suite runs end to end (no timing assertions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson


def test_quick_bench_writes_every_section(tmp_path):
    out = tmp_path / "results.json"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "JOURNEY_BENCH_BROKERS": os.environ.get("JOURNEY_TEST_BROKERS", "")}
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                          cwd=root, capture_output=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    results = orjson.loads(out.read_bytes())
    assert {r["baseline"] for r in results["kernel"]} == {
        "numpy W @ x (sgemv)", "numpy X @ W.T (sgemm)"}
    assert results["flow"][0]["ratio"] > 0
    assert results["quality"]["oracle"] >= results["quality"]["learned"]
    if env["JOURNEY_BENCH_BROKERS"]:
        assert results["kafka"]["journey"]["received"] > 0
    assert "| benchmark |" in proc.stdout.decode()
