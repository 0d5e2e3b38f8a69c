"""Decision quality in closed loop on worlds Journey was not tuned on, against the peers.

For each world × policy × seed, one closed loop: the world's seeded events go through the
in-process `Engine` (Journey's triggers, features, eligibility, contact policy and budgets
decide *when* a decision is made and *what is allowed*), the policy (Journey's learner,
its generic control, or a peer plugged in with `Engine(..., policy=peer)`) decides what is
shown, the world reacts on event time, and the oracle scores every decision by its expected
net value `P(response) × E[conversion value | response] − channel cost`. Regret is the best
eligible treatment's value minus the chosen one's. Figures are per decision over the second
half of each run (learning curves cover the whole run); the Journey run keeps its live
control group, so its realized uplift is reported too.

Seeds: `TUNING_SEEDS` (7, 11, 13) are the only ones anything was tuned on (the tuned LinUCB
of `bench/tuned.json`, by `python -m bench.tune`); the README table comes from
`HELD_OUT_SEEDS` (21, 22, 23). `--driver reference` runs the peers through the reference
driver (`bench/worlds/reference.py`: the world's own features, no Engine) instead.

    python -m bench.quality                       # default sizes, held-out seeds, Engine
    python -m bench.quality --size full --jobs 2  # 2,000 customers per world (~40k requests)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.peers import PEERS
from bench.worlds import WORLD_NAMES, load_world

__all__ = ["HELD_OUT_SEEDS", "POLICIES", "SIZES", "TUNING_SEEDS", "bench_quality", "run_one"]

TUNING_SEEDS = (7, 11, 13)
HELD_OUT_SEEDS = (21, 22, 23)
POLICIES = ("journey", "control", "random", "popular", "linucb", "linucb_tuned", "vw",
            "logistic_ts")
PEER_POLICIES = ("random", "popular", "linucb", "linucb_tuned", "vw", "logistic_ts")
SIZES: dict[str, dict[str, tuple[int, float]]] = {
    # world -> (customers, days)
    "quick": {"offers": (120, 8), "telco": (120, 10), "retail": (150, 6)},
    "default": {"offers": (300, 24), "telco": (300, 42), "retail": (400, 21)},
    "full": {"offers": (2000, 24), "telco": (2000, 42), "retail": (2000, 21)},
}
TUNED = Path(__file__).with_name("tuned.json")
LABELS = {"journey": "Journey (learned)", "control": "generic control (Journey's)",
          "random": "random", "popular": "most popular",
          "linucb": "river LinUCBDisjoint (defaults)", "linucb_tuned": "river LinUCBDisjoint "
          "(tuned)", "vw": "Vowpal Wabbit cb_explore_adf", "logistic_ts":
          "logistic Thompson sampling"}
_CURVE_POINTS = 60


def tuned(world: str, driver: str) -> dict[str, float]:
    """LinUCB settings chosen on the tuning seeds (`python -m bench.tune`)."""
    if TUNED.exists():
        table = orjson.loads(TUNED.read_bytes())
        entry = table.get("linucb", {}).get(driver, {}).get(world)
        if entry is not None:
            return {"alpha": float(entry["alpha"]), "beta": float(entry["beta"])}
    msg = (f"no tuned LinUCB settings for world {world!r} ({driver} driver) in {TUNED}; "
           f"run `python -m bench.tune --driver {driver}` (tuning seeds only)")
    raise KeyError(msg)


def make_peer(name: str, world: str, seed: int, driver: str,
              settings: dict[str, float] | None = None) -> Any:
    """A peer policy by benchmark name (`linucb_tuned` reads `bench/tuned.json`)."""
    if name == "linucb_tuned":
        return PEERS["linucb"](seed, **(settings or tuned(world, driver)))
    return PEERS[name](seed, **(settings or {}))


@dataclass(slots=True)
class Tally:
    """Oracle scores of one run's decisions, in decision order."""

    chosen: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    p_chosen: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    latency_us: list[float] = field(default_factory=list)

    def score(self, world: Any, d: dict[str, Any], eligible: list[tuple[str, str]]) -> None:
        """Score decision `d` among its eligible (action id, channel) pairs (decisions the
        world cannot answer, such as the retail simulator's anonymous devices, are not)."""
        user, ts = d["customer_id"], d["ts"]
        if not world.knows(user):
            return
        values = world.expected_net_values(user, eligible, ts)
        mine = (d["action_id"], d["channel"])
        if mine not in eligible:
            msg = f"decision {d['decision_id']!r} chose {mine!r}, not among its eligible"
            raise AssertionError(msg)
        self.chosen.append(values[eligible.index(mine)])
        self.best.append(max(values))
        self.p_chosen.append(world.response_probability(user, *mine, ts))
        self.ids.append(str(d["decision_id"]))


def summary(name: str, tally: Tally, world: Any) -> dict[str, Any]:
    """Second-half figures and the whole run's learning curve."""
    chosen, best = np.array(tally.chosen), np.array(tally.best)
    n = len(chosen)
    half = slice(n // 2, None)
    realized = np.array([world.realized.get(i, 0.0) for i in tally.ids])
    regret = np.cumsum(best - chosen)
    at = np.unique(np.linspace(1, n, min(_CURVE_POINTS, n)).astype(int)) if n else []

    def mean(a: np.ndarray) -> float:
        return float(a[half].mean()) if n else 0.0

    return {
        "policy": name, "label": LABELS.get(name, name), "decisions": n,
        "requests": int(world.requests),
        "value_per_decision": mean(chosen), "oracle_value_per_decision": mean(best),
        "regret_per_decision": mean(best - chosen),
        "realized_value_per_decision": mean(realized),
        "response_probability": mean(np.array(tally.p_chosen)),
        "cumulative_regret": float(regret[-1]) if n else 0.0,
        "curve": {"decisions": [int(i) for i in at],
                  "cumulative_regret": [float(regret[i - 1]) for i in at]},
    }


def _treatments(catalog: Any) -> list[tuple[str, str]]:
    out = []
    for t in range(catalog.n_treatments):
        action, channel = catalog.treatment(t)
        out.append((action.id, channel))
    return out


def _run_reference(world: Any, name: str, seed: int,
                   settings: dict[str, float] | None) -> dict[str, Any]:
    from bench.worlds.reference import run_reference

    if name in ("journey", "control"):
        msg = f"policy {name!r} is Journey's own: it needs the Engine driver"
        raise ValueError(msg)
    peer = make_peer(name, world.name, seed, "reference", settings)
    tally = Tally()
    names: list[tuple[str, str]] = []

    def on_decision(d: dict[str, Any], choice: Any, t: int) -> None:
        if not names:
            names.extend(_treatments(choice.catalog))
        p = d["probability"]
        if not 0.0 < p <= 1.0 or int(t) not in set(choice.eligible.tolist()):
            msg = f"{name}: chose {t} with probability {p!r} outside its eligible set"
            raise AssertionError(msg)
        tally.score(world, d, [names[int(e)] for e in choice.eligible])

    run_reference(world, peer, on_decision)
    return summary(name, tally, world)


def run_one(world_name: str, name: str, seed: int, *, customers: int | None = None,
            days: float | None = None, driver: str = "engine",
            settings: dict[str, float] | None = None) -> dict[str, Any]:
    """One closed loop of policy `name` on world `world_name` under `seed`."""
    from threadpoolctl import threadpool_limits

    started = time.process_time()
    world = load_world(world_name, seed=seed, customers=customers, days=days)
    # decisions are sequential and their matrices small: BLAS threads only contend
    with threadpool_limits(limits=1):
        if driver == "reference":
            out = _run_reference(world, name, seed, settings)
        else:
            from bench.engine_loop import run_engine

            out = run_engine(world, name, seed, make_peer, settings)
    out.update({"world": world_name, "seed": seed, "driver": driver,
                "cpu_s": round(time.process_time() - started, 2)})
    return out


def _across(name: str, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds; the first seed's curve; every seed's summary."""
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in per_seed]))

    regrets = [float(r["regret_per_decision"]) for r in per_seed]
    out = {"policy": name, "label": LABELS.get(name, name),
           "decisions": int(sum(int(r["decisions"]) for r in per_seed)),
           "regret_min": min(regrets), "regret_max": max(regrets),
           "curve": per_seed[0]["curve"],
           "per_seed": [{k: v for k, v in r.items() if k not in ("curve", "decide_latency_us")}
                        for r in per_seed]}
    for key in ("value_per_decision", "oracle_value_per_decision", "regret_per_decision",
                "realized_value_per_decision", "response_probability", "cumulative_regret"):
        out[key] = mean(key)
    return out


def _task(args: tuple[str, str, int, int, float, str]) -> dict[str, Any]:
    world, name, seed, customers, days, driver = args
    return run_one(world, name, seed, customers=customers, days=days, driver=driver)


def bench_quality(*, worlds: tuple[str, ...] = WORLD_NAMES,
                  policies: tuple[str, ...] = POLICIES, seeds: tuple[int, ...] = HELD_OUT_SEEDS,
                  size: str = "default", driver: str = "engine", jobs: int = 1,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every world × policy × seed; per world, each policy's means over the seeds and on how
    many seeds Journey's regret is the lower one."""
    if driver == "reference":
        policies = tuple(p for p in policies if p not in ("journey", "control"))
    tasks = [(w, p, s, *SIZES[size][w], driver) for w in worlds for s in seeds for p in policies]
    results: list[dict[str, Any]] = []
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for r in pool.map(_task, tasks):
                results.append(r)
                if progress is not None:
                    progress(f"{r['world']} / {r['policy']} / seed {r['seed']}: "
                             f"{r['cpu_s']:.0f} s CPU")
    else:
        for t in tasks:
            if progress is not None:
                progress(f"{t[0]} / {t[1]} / seed {t[2]}")
            results.append(_task(t))
    out: dict[str, Any] = {"driver": driver, "size": size, "seeds": list(seeds),
                           "held_out": set(seeds) <= set(HELD_OUT_SEEDS),
                           "tuning_seeds": list(TUNING_SEEDS), "worlds": {}}
    latency: list[float] = []
    for w in worlds:
        per = {p: [r for r in results if r["world"] == w and r["policy"] == p]
               for p in policies}
        runs = {p: _across(p, rs) for p, rs in per.items() if rs}
        if "journey" in runs:
            mine = [r["regret_per_decision"] for r in per["journey"]]
            for p, r in runs.items():
                theirs = [x["regret_per_decision"] for x in per[p]]
                r["journey_wins"] = sum(m < t for m, t in zip(mine, theirs, strict=True))
            runs["journey"]["realized_uplift"] = [r.get("uplift") for r in per["journey"]]
            if not latency or w == "retail":  # the latency table names retail's catalog
                latency = per["journey"][0].get("decide_latency_us", [])
        customers, days = SIZES[size][w]
        out["worlds"][w] = {"customers": customers, "days": days, "runs": runs,
                            "requests": int(np.mean([r["requests"] for r in per[policies[0]]]))}
    out["decide_latency_us"] = latency
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: run the quality benchmark alone and print its JSON summary (without curves)."""
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split(
        "\n")[0])
    p.add_argument("--worlds", default=",".join(WORLD_NAMES))
    p.add_argument("--policies", default=",".join(POLICIES))
    p.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)))
    p.add_argument("--size", choices=sorted(SIZES), default="default")
    p.add_argument("--driver", choices=("engine", "reference"), default="engine")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="", help="write the full results JSON here")
    a = p.parse_args(argv)
    q = bench_quality(worlds=tuple(a.worlds.split(",")), policies=tuple(a.policies.split(",")),
                      seeds=tuple(int(s) for s in a.seeds.split(",")), size=a.size,
                      driver=a.driver, jobs=a.jobs,
                      progress=lambda line: print(line, file=sys.stderr, flush=True))
    if a.out:
        Path(a.out).write_bytes(orjson.dumps(q, option=orjson.OPT_INDENT_2))
    from bench.report import quality_table

    print(quality_table(q))
    return 0


if __name__ == "__main__":
    sys.exit(main())
