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


def test_soak_smoke_prints_its_figures(tmp_path):
    out = tmp_path / "soak.json"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "bench.soak", "--seconds", "24", "--window",
                           "4", "--cohort", "6", "--state-ttl", "6", "--out", str(out)],
                          cwd=root, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    result = orjson.loads(out.read_bytes())
    assert len(result["samples"]) >= 4 and result["rate"] > 0
    assert {"rss_growth_mb", "p99_drift", "backlog_max", "keys_max"} <= set(result["summary"])
    assert b"p99_ms" in proc.stdout
