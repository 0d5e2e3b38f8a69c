"""Time to first decision of `journey run`, numba cache cold and warm, beside a bare
bytewax flow's time to its first output record.

Each run is a fresh process timed from spawn until its first line on stdout (Journey writes
decisions there with `--out -`); it is killed then. Cold runs get a new empty
`NUMBA_CACHE_DIR` (every kernel is compiled), warm runs reuse the one the cold run filled.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["BASELINE", "bench_startup"]

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "bare bytewax flow, first output"


def _first_line(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning `cmd` until it writes its first stdout line."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        proc.kill()
        proc.wait()
        if not line:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            msg = f"{' '.join(cmd)} wrote nothing to stdout:\n{tail}"
            raise RuntimeError(msg)
    return elapsed


def bench_startup(events: int = 2000, seed: int = 7, repeats: int = 3) -> dict[str, object]:
    """Medians over `repeats` rounds of baseline, cold and warm start (interleaved); each
    run's seconds are returned too. `events` bounds the simulator run, should one end
    before its first decision (that is an error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    cold, warm, base = [], [], []
    with tempfile.TemporaryDirectory(prefix="journey-startup-") as tmp:
        journey = [sys.executable, "-m", "flows.cli", "run", "--events", str(events),
                   "--seed", str(seed), "--out", "-", "--dead-letters",
                   str(Path(tmp) / "dead-letters.jsonl"), "--no-progress", "--metrics-port", "0"]
        bare = [sys.executable, "-m", "bytewax.run", "bench.bare_startup:flow"]
        for i in range(repeats):
            base.append(_first_line(bare, env))
            cache = {**env, "NUMBA_CACHE_DIR": str(Path(tmp) / f"numba-{i}")}
            cold.append(_first_line(journey, cache))
            warm.append(_first_line(journey, cache))
    cold_s, warm_s, base_s = (statistics.median(x) for x in (cold, warm, base))
    return {"cold_s": cold_s, "warm_s": warm_s, "baseline": BASELINE, "baseline_s": base_s,
            "cold_ratio": cold_s / base_s, "warm_ratio": warm_s / base_s,
            "jit_s": cold_s - warm_s, "cold_runs_s": cold, "warm_runs_s": warm,
            "baseline_runs_s": base}
