"""`python -m bench [--quick]`: run the benchmarks, write bench/results.json, update README.

Every figure is a ratio against a baseline measured in the same run, on seeded workloads.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import orjson

from bench.flow import bench_flow, bench_stages
from bench.kafka_latency import bench_kafka_latency
from bench.kernel import bench_kernel
from bench.quality import bench_quality
from engine.kernels import warm_up

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _table(results: dict[str, object]) -> str:
    lines = ["| benchmark | Journey | baseline | ratio (Journey / baseline) |",
             "|---|---|---|---|"]
    for r in results["kernel"]:  # type: ignore[union-attr]
        lines.append(f"| scoring {r['case']} | {r['journey_us']:.1f} µs "
                     f"({r['ns_per_action']:.0f} ns/action) | {r['baseline']}: "
                     f"{r['baseline_us']:.2f} µs | {r['ratio']:.1f}× time |")
    for r in results["flow"]:  # type: ignore[union-attr]
        lines.append(f"| {r['case']} | {r['journey_events_per_s']:,.0f} events/s | "
                     f"{r['baseline']}: {r['baseline_events_per_s']:,.0f} events/s | "
                     f"{r['ratio']:.3f}× throughput |")
    q = results["quality"]
    assert isinstance(q, dict)
    lines.append(f"| decision quality (oracle-scored net value per decision, 2nd half) | "
                 f"learned {q['learned']:.3f} | control {q['control']:.3f}, random "
                 f"{q['random']:.3f}, oracle {q['oracle']:.3f} | "
                 f"{q['learned'] / q['control']:.2f}× control |")
    real = q["realized"]
    lines.append(f"| realized uplift (learned − control, net value per decision) | "
                 f"{real['learned_value_per_decision']:.3f} | "
                 f"control {real['control_value_per_decision']:.3f} | "
                 f"+{real['uplift_value_per_decision']:.3f} "
                 f"[95% CI {real['uplift_value_ci95_low']:.3f}, "
                 f"{real['uplift_value_ci95_high']:.3f}] |")
    k = results.get("kafka")
    if isinstance(k, dict):
        j, b = k["journey"], k["broker"]
        lines.append(f"| Kafka round trip at {k['rate_per_s']:.0f} events/s: p50 / p99 / p99.9 | "
                     f"{j['p50_us'] / 1e3:.2f} / {j['p99_us'] / 1e3:.2f} / "
                     f"{j['p99_9_us'] / 1e3:.2f} ms | broker produce→consume: "
                     f"{b['p50_us'] / 1e3:.2f} / {b['p99_us'] / 1e3:.2f} / "
                     f"{b['p99_9_us'] / 1e3:.2f} ms | {k['p99_ratio']:.2f}× at p99 |")
    stages = ", ".join(f"{s['stage']} {s['us_per_event']:.2f}"
                       for s in results["stages"])  # type: ignore[union-attr]
    lines.append(f"\nPer-stage cost (µs per event, in-process): {stages}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; `--quick` is the CI smoke test (small sizes, no README update)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--no-readme", action="store_true", help="do not rewrite README's table")
    p.add_argument("--brokers", default=os.environ.get("JOURNEY_BENCH_BROKERS", ""),
                   help="Kafka broker for the round-trip benchmark [env JOURNEY_BENCH_BROKERS]")
    a = p.parse_args(argv)
    warm_up()
    t0 = time.perf_counter()
    sizes = [(100, 32), (1000, 64)] if a.quick else [
        (100, 32), (100, 64), (1000, 32), (1000, 64), (1000, 128), (5000, 64), (5000, 128)]
    results: dict[str, object] = {"machine": f"{platform.machine()} {platform.processor()}",
                                  "python": sys.version.split()[0], "numpy": np.__version__}
    steps = [
        ("kernel", lambda: bench_kernel(sizes, number=20 if a.quick else 200)),
        ("flow", lambda: bench_flow(5_000 if a.quick else 60_000, 2_000)),
        ("stages", lambda: bench_stages(3_000 if a.quick else 30_000, 2_000)),
        ("quality", lambda: bench_quality(10_000 if a.quick else 300_000,
                                          300 if a.quick else 2_000)),
    ]
    if a.brokers:
        steps.append(("kafka", lambda: bench_kafka_latency(
            a.brokers, n=400 if a.quick else 3000, rate=200.0)))
    for name, fn in steps:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        results[name] = fn()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    Path(a.out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 |
                                         orjson.OPT_SERIALIZE_NUMPY))
    table = _table(results)
    print(table)
    if not a.quick and not a.no_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        block = f"{BEGIN}\n{table}\n{END}"
        readme.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block,
                                 text, flags=re.S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
