"""`python -m bench.tune`: choose the tuned LinUCB's settings on the TUNING seeds only.

For each world, every (alpha, beta) of the grid runs the closed loop on `TUNING_SEEDS`
(7, 11, 13); the setting with the lowest mean second-half regret per decision is written to
`bench/tuned.json` (with the whole grid, so the choice can be checked). The held-out seeds
of the benchmark (21, 22, 23) are never run here.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import orjson

from bench.quality import SIZES, TUNED, TUNING_SEEDS, run_one
from bench.worlds import WORLD_NAMES

__all__ = ["GRID", "tune_linucb"]

GRID = {"alpha": (0.1, 1.0, 10.0), "beta": (0.001, 0.01, 0.1, 1.0)}
"""river LinUCBDisjoint: prior precision of the weights × precision of the reward noise."""


def _task(args: tuple[str, int, str, str, dict[str, float]]) -> tuple[str, dict[str, float],
                                                                      int, float]:
    world, seed, size, driver, settings = args
    customers, days = SIZES[size][world]
    r = run_one(world, "linucb_tuned", seed, customers=customers, days=days, driver=driver,
                settings=settings)
    return world, settings, seed, float(r["regret_per_decision"])


def tune_linucb(worlds: tuple[str, ...], *, size: str, driver: str, jobs: int) -> dict[str, Any]:
    """The grid's regret per world and setting, and the chosen setting per world."""
    grid = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
    tasks = [(w, s, size, driver, g) for w in worlds for g in grid for s in TUNING_SEEDS]
    regrets: dict[tuple[str, str], list[float]] = {}
    with ProcessPoolExecutor(jobs) as pool:
        for world, settings, seed, regret in pool.map(_task, tasks):
            key = (world, orjson.dumps(settings).decode())
            regrets.setdefault(key, []).append(regret)
            print(f"{world} {settings} seed {seed}: regret {regret:.4f}", file=sys.stderr,
                  flush=True)
    out: dict[str, Any] = {}
    for w in worlds:
        rows = [{**orjson.loads(k), "regret_per_decision": float(np.mean(v))}
                for (world, k), v in regrets.items() if world == w]
        best = min(rows, key=lambda r: r["regret_per_decision"])
        out[w] = {"alpha": best["alpha"], "beta": best["beta"], "grid": rows}
    return out


def main(argv: list[str] | None = None) -> int:
    """Tune and merge the result into `bench/tuned.json`."""
    p = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__.split("\n")[0])
    p.add_argument("--worlds", default=",".join(WORLD_NAMES))
    p.add_argument("--size", choices=sorted(SIZES), default="default")
    p.add_argument("--driver", choices=("engine", "reference"), default="engine")
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    result = tune_linucb(tuple(a.worlds.split(",")), size=a.size, driver=a.driver, jobs=a.jobs)
    table = orjson.loads(TUNED.read_bytes()) if TUNED.exists() else {}
    entry = table.setdefault("linucb", {}).setdefault(a.driver, {})
    entry.update(result)
    table["tuning_seeds"] = list(TUNING_SEEDS)
    table.setdefault("sizes", {})[a.driver] = a.size
    TUNED.write_bytes(orjson.dumps(table, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    for w, r in result.items():
        print(f"{w}: alpha={r['alpha']} beta={r['beta']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
