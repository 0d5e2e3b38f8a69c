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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.flow import bench_flow, bench_stages
from bench.kafka_latency import bench_kafka_latency
from bench.kernel import bench_call_overhead, bench_kernel
from bench.latency import bench_latency
from bench.memory import QUICK_SIZES, bench_memory
from bench.plots import write_plots
from bench.quality import HELD_OUT_SEEDS, bench_quality
from bench.report import quality_table
from bench.repurchase import bench_repurchase
from bench.repurchase import table as repurchase_table
from bench.startup import bench_startup
from engine.kernels import warm_up

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _kernel_table(rows: list[dict[str, Any]]) -> list[str]:
    """One row per case; one column per baseline: its time and Journey's ratio to it."""
    baselines = list(dict.fromkeys(r["baseline"] for r in rows))
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        cases.setdefault(r["case"], {})[r["baseline"]] = r
    lines = ["| scoring case (actions × features) | Journey kernel | "
             + " | ".join(f"{b}: time (Journey / it)" for b in baselines) + " |",
             "|---|---|" + "---|" * len(baselines)]
    for case, by in cases.items():
        first = next(iter(by.values()))
        cells = [f"{by[b]['baseline_us']:,.2f} µs ({by[b]['ratio']:.3g}×)" if b in by else "—"
                 for b in baselines]
        lines.append(f"| {case} | {first['journey_us']:.1f} µs "
                     f"({first['ns_per_action']:.0f} ns/action) | " + " | ".join(cells) + " |")
    return lines


def _table(results: dict[str, Any]) -> str:
    lines = [*_kernel_table(results["kernel"]), "",
             "| benchmark | Journey | baseline | ratio (Journey / baseline) |",
             "|---|---|---|---|"]
    call = results["call_overhead"]
    lines.append(f"| {call['case']} | {call['journey_us']:.2f} µs | {call['baseline']}: "
                 f"{call['baseline_us']:.2f} µs | {call['ratio']:.2f}× time |")
    lat = results["latency"]
    k, b = lat["percentiles"][lat["kernel"]], lat["percentiles"][lat["baseline"]]
    lines.append(f"| {lat['kernel']}: p50 / p99 / p99.9 per call | {k['p50_us']:.1f} / "
                 f"{k['p99_us']:.1f} / {k['p99_9_us']:.1f} µs | {lat['baseline']}: "
                 f"{b['p50_us']:.1f} / {b['p99_us']:.1f} / {b['p99_9_us']:.1f} µs | "
                 f"{lat['p50_ratio']:.2f}× at p50, {lat['p99_ratio']:.2f}× at p99 |")
    for r in results["flow"]:
        lines.append(f"| {r['case']} | {r['journey_events_per_s']:,.0f} events/s "
                     f"({r['journey_events_per_s_per_worker']:,.0f} per worker) | "
                     f"{r['baseline']}: {r['baseline_events_per_s']:,.0f} events/s | "
                     f"{r['ratio']:.3f}× throughput |")
    for r in results["memory"]:
        lines.append(f"| state of {r['customers']:,} customers, bytes per customer: RSS / "
                     f"pickled | {r['rss_bytes_per_customer']:,.0f} / "
                     f"{r['pickled_bytes_per_customer']:,.0f} B | {r['baseline']}: "
                     f"{r['baseline_rss_bytes_per_customer']:,.0f} / "
                     f"{r['baseline_pickled_bytes_per_customer']:,.0f} B | "
                     f"{r['rss_ratio']:.2f}× RSS, {r['pickled_ratio']:.2f}× pickled |")
    st = results["startup"]
    lines.append(f"| time to first decision, JIT cache cold / warm | {st['cold_s']:.2f} / "
                 f"{st['warm_s']:.2f} s | {st['baseline']}: {st['baseline_s']:.2f} s | "
                 f"{st['cold_ratio']:.2f}× cold, {st['warm_ratio']:.2f}× warm |")
    kafka = results.get("kafka")
    if isinstance(kafka, dict):
        j, b = kafka["journey"], kafka["broker"]
        lines.append(f"| Kafka round trip at {kafka['rate_per_s']:.0f} events/s: p50 / p99 / "
                     f"p99.9 | {j['p50_us'] / 1e3:.2f} / {j['p99_us'] / 1e3:.2f} / "
                     f"{j['p99_9_us'] / 1e3:.2f} ms | broker produce→consume: "
                     f"{b['p50_us'] / 1e3:.2f} / {b['p99_us'] / 1e3:.2f} / "
                     f"{b['p99_9_us'] / 1e3:.2f} ms | {kafka['p99_ratio']:.2f}× at p99 |")
    stages = ", ".join(f"{s['stage']} {s['us_per_event']:.2f}" for s in results["stages"])
    lines.append(f"\nPer-stage cost (µs per event, in-process): {stages}.\n")
    q = results["quality"]
    lines.append("Decision quality in closed loop on three worlds (`bench/worlds/`: offers and "
                 "telco were written apart from Journey's learner; retail is the bundled "
                 "simulator it was tuned on), per decision over the second half of each run, "
                 "mean over the held-out seeds; regret = the oracle's best eligible expected "
                 "net value − the chosen one's:\n")
    lines.append(quality_table(q))
    if "repurchase" in results:
        lines.append("\nRepurchase propensity on real purchase histories (`bench/repurchase.py`:"
                     " Journey's online model streamed through the orders, against lifetimes' "
                     "BG/NBD, an RFM score, recency and frequency, one run; AUC of ordering "
                     "again within the horizon after the cut):\n")
        lines.append(repurchase_table(results["repurchase"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; `--quick` is the CI smoke test (small sizes, no README update)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--plots", default="", help="folder for the PNG plots [default: beside --out]")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite README's table")
    p.add_argument("--quality-size", choices=("quick", "default", "full"), default="default",
                   help="world sizes of the closed-loop quality runs [default: default]")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes for the closed-loop quality runs [default: 2]")
    p.add_argument("--brokers", default=os.environ.get("JOURNEY_BENCH_BROKERS", ""),
                   help="Kafka broker for the round-trip benchmark [env JOURNEY_BENCH_BROKERS]")
    a = p.parse_args(argv)
    warm_up()
    t0 = time.perf_counter()
    quick = a.quick
    sizes = [(100, 32), (1000, 64)] if quick else [
        (n, f) for n in (100, 1000, 5000) for f in (32, 64, 128)]
    results: dict[str, Any] = {"machine": f"{platform.machine()} {platform.processor()}",
                               "cpus": os.cpu_count(), "python": sys.version.split()[0],
                               "numpy": np.__version__, "quick": quick}

    def quality() -> dict[str, Any]:
        q = bench_quality(size="quick" if quick else a.quality_size,
                          seeds=HELD_OUT_SEEDS[:1] if quick else HELD_OUT_SEEDS,
                          jobs=a.jobs, progress=lambda name: _say(f"  quality: {name}"))
        results["latency"] = bench_latency(q.pop("decide_latency_us"),
                                           n=500 if quick else 5000)
        return q

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("kernel", lambda: bench_kernel(sizes, number=20 if quick else 200)),
        ("call_overhead", lambda: bench_call_overhead(number=200 if quick else 2000)),
        ("flow", lambda: bench_flow(4_000 if quick else 60_000, 2_000)),
        ("stages", lambda: bench_stages(3_000 if quick else 30_000, 2_000)),
        ("quality", quality),
        ("memory", lambda: bench_memory(QUICK_SIZES, sample_events=20_000) if quick
         else bench_memory()),
        ("startup", lambda: bench_startup(repeats=1 if quick else 3)),
        ("repurchase", lambda: bench_repurchase(tune=not quick)),
    ]
    if a.brokers:
        steps.append(("kafka", lambda: bench_kafka_latency(
            a.brokers, n=400 if quick else 3000, rate=200.0)))
    for i, (name, fn) in enumerate(steps, 1):
        started = time.perf_counter()
        _say(f"[bench {i}/{len(steps)}] {name} ...")
        results[name] = fn()
        _say(f"[bench {i}/{len(steps)}] {name} done in {time.perf_counter() - started:.0f} s")
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 |
                                 orjson.OPT_SERIALIZE_NUMPY))
    plots = write_plots(results, Path(a.plots) if a.plots else out.parent / "plots")
    _say(f"[bench] wrote {out} and {', '.join(str(p) for p in plots)}")
    table = _table(results)
    print(table)
    if not a.quick and not a.no_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        block = f"{BEGIN}\n{table}\n{END}"
        readme.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block,
                                 text, flags=re.S))
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
