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
                          cwd=root, capture_output=True, timeout=1500, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    results = orjson.loads(out.read_bytes())
    assert {r["baseline"] for r in results["kernel"]} == {
        "numpy W @ x (sgemv)", "numpy X @ W.T (sgemm)", "river predict_proba_one per action",
        "river LinUCBDisjoint.pull"}
    assert all(r["ratio"] > 0 and r["baseline"] for r in results["kernel"])
    assert {r["processes"] for r in results["flow"]} == {1, 2}
    assert all(r["ratio"] > 0 for r in results["flow"])
    assert {s["stage"] for s in results["stages"]} >= {"decode", "features", "decide", "learn",
                                                        "metrics"}
    q = results["quality"]
    assert set(q["worlds"]) == {"offers", "telco", "retail"}
    assert q["held_out"] and q["seeds"] == [21]
    for world in q["worlds"].values():
        runs = world["runs"]
        assert set(runs) == {"journey", "control", "random", "popular", "linucb",
                             "linucb_tuned", "vw", "logistic_ts"}
        for run in runs.values():
            assert run["decisions"] > 0
            # the oracle picks the best eligible choice of every decision: nothing beats it
            assert run["oracle_value_per_decision"] >= run["value_per_decision"]
            assert run["regret_per_decision"] >= 0.0
            assert run["curve"]["cumulative_regret"] == sorted(run["curve"]["cumulative_regret"])
        assert "realized_uplift" in runs["journey"]
    assert {r["customers"] for r in results["memory"]} == {2_000, 20_000}
    assert all(r["rss_ratio"] > 0 and r["pickled_ratio"] > 0 for r in results["memory"])
    assert results["startup"]["cold_s"] > 0 and results["startup"]["baseline_s"] > 0
    assert results["latency"]["p50_ratio"] > 0
    for name in ("latency", "throughput", "regret"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if env["JOURNEY_BENCH_BROKERS"]:
        assert results["kafka"]["journey"]["received"] > 0
    table = proc.stdout.decode()
    assert "| benchmark |" in table and "| policy |" in table
    assert "<!-- bench:begin -->" in (root / "README.md").read_text()  # --quick leaves it be


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
