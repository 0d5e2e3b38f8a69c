"""Decision quality in closed loop on the simulator: Journey vs its generic control, random,
river's LinUCBDisjoint and Vowpal Wabbit's `cb_explore_adf`, scored against the oracle.

Every policy gets its own closed loop over the same seeded world (same customers, same
journeys until decisions change them) and the same engine: Journey's triggers, features,
eligibility, contact policy and budgets decide *when* a decision is made and *what is
allowed*; the policy decides what is shown and learns from the outcome. The simulator's
oracle scores every choice by its expected net value `P(response) × value − cost`; regret is
the best eligible choice's value minus the chosen one's. The Journey run keeps its live
control group (`control_share`), so its realized uplift (learned − control) is reported too.

The benchmark's seeds (21, 22, 23) were never used to tune anything: Journey's learner
defaults and the tuned peer were chosen on seeds 7, 11 and 13.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import engine.engine as engine_module
from bench.peers import LinUCBPolicy, PeerPolicy, RandomPolicy, VowpalPolicy
from engine.core import CoreConfig
from engine.decision import seed_of
from engine.engine import Engine
from engine.simulator import Simulator

__all__ = ["POLICIES", "bench_quality", "run_policy"]

POLICIES = ("journey", "control", "random", "linucb", "linucb_tuned", "vw")
SEEDS = (21, 22, 23)
_LABELS = {"journey": "Journey (learned)", "control": "generic control", "random": "random",
           "linucb": f"{LinUCBPolicy.name} (river defaults)",
           "linucb_tuned": f"{LinUCBPolicy.name} (tuned: β=0.1, no constant)",
           "vw": f"{VowpalPolicy.name} (ε=0.02)"}
_CURVE_POINTS = 60


@dataclass(slots=True)
class _Tally:
    """Per-decision oracle scores of one run, in decision order."""

    chosen: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    p_chosen: list[float] = field(default_factory=list)
    latency_us: list[float] = field(default_factory=list)
    responses: int = 0
    resolved: int = 0


def _peer(name: str, eng: Engine, seed: int) -> PeerPolicy | None:
    factories: dict[str, Callable[[], PeerPolicy]] = {
        "random": lambda: RandomPolicy(seed),
        "linucb": lambda: LinUCBPolicy(seed),
        # reward noise precision matched to net values (~value² · p(1-p)), tuned like Journey
        "linucb_tuned": lambda: LinUCBPolicy(seed, beta=0.1, bias=False),
        "vw": lambda: VowpalPolicy(eng.core.catalog, seed, epsilon=0.02),
    }
    return factories[name]() if name in factories else None


def run_policy(name: str, events: int, customers: int, *, seed: int = 7,
               control_share: float = 0.1) -> dict[str, object]:
    """One closed loop with policy `name` (one of `POLICIES`) choosing every decision."""
    share = {"journey": control_share, "control": 1.0}.get(name, 0.0)
    eng = Engine(config=CoreConfig(seed=seed, control_share=share))
    sim = Simulator(eng.core.catalog, seed=seed, customers=customers)
    cat = eng.core.catalog
    cat.lever[:] = 1.0  # the oracle scores net value: no business levers or context weights
    cat.cw_weight[:] = 1.0
    ids = [(a.id, ch) for a, ch in (cat.treatment(t) for t in range(cat.n_treatments))]
    peer = _peer(name, eng, seed)
    scored: dict[int, np.ndarray] = {}
    contexts: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    original_score = eng.core.scorer.score
    original_learn = engine_module.learn_action
    tally = _Tally()
    wanted = "control" if name == "control" else "learned"

    def score(x, *args):
        res = original_score(x, *args)
        eligible = np.flatnonzero(res.status == 0)
        if peer is not None and res.chosen >= 0:
            res.chosen, res.probability = peer.choose(x, eligible)
        scored[int(args[-1])] = res.status
        contexts[id(x)] = (x, eligible, res.probability)
        return res

    def learn(learner, example, board) -> None:
        tally.resolved += 1
        tally.responses += int(example.y)
        x, eligible, prob = contexts.pop(id(example.x), (example.x, None, 1.0))
        if peer is None:
            original_learn(learner, example, board)
        elif eligible is not None:
            reward = eng.core.net_value(example.treatment, example.y)
            peer.learn(x, eligible, example.treatment, prob, reward)

    eng.core.scorer.score = score  # type: ignore[method-assign]
    engine_module.learn_action = learn  # type: ignore[assignment]
    try:
        for rec in sim.events(events):
            for d in eng.process(rec):
                status = scored.pop(seed_of(d.decision_id))
                c = sim._by_user.get(d.customer_id)
                if c is not None and d.policy == wanted:
                    elig = np.flatnonzero(status == 0)
                    p = np.array([sim.true_response(c.idx, *ids[t]) for t in elig])
                    ev = p * cat.value[elig] - cat.cost[elig]
                    j = int(np.flatnonzero(elig == ids.index((d.action_id, d.channel)))[0])
                    tally.chosen.append(float(ev[j]))
                    tally.best.append(float(ev.max()))
                    tally.p_chosen.append(float(p[j]))
                    tally.latency_us.append(d.latency_us)
                sim.deliver(d.to_dict())
    finally:
        engine_module.learn_action = original_learn
    return _summary(name, tally, eng)


def _summary(name: str, tally: _Tally, eng: Engine) -> dict[str, object]:
    chosen, best = np.array(tally.chosen), np.array(tally.best)
    n = len(chosen)
    half = slice(n // 2, None)
    regret = np.cumsum(best - chosen)
    at = np.unique(np.linspace(1, n, min(_CURVE_POINTS, n)).astype(int)) if n else []
    out: dict[str, object] = {
        "policy": name,
        "label": _LABELS[name],
        "decisions": n,
        "value_per_decision": float(chosen[half].mean()) if n else 0.0,
        "oracle_value_per_decision": float(best[half].mean()) if n else 0.0,
        "regret_per_decision": float((best - chosen)[half].mean()) if n else 0.0,
        "cumulative_regret": float(regret[-1]) if n else 0.0,
        "response_probability": float(np.mean(tally.p_chosen[n // 2:])) if n else 0.0,
        "reward_rate": tally.responses / max(tally.resolved, 1),
        "curve": {"decisions": [int(i) for i in at],
                  "cumulative_regret": [float(regret[i - 1]) for i in at]},
    }
    if name == "journey":
        out["realized"] = eng.core.uplift.summary()
        out["decide_latency_us"] = tally.latency_us
    return out


def _across(name: str, per_seed: list[dict[str, object]]) -> dict[str, object]:
    """Means over seeds; the first seed's curve; every seed's summary."""
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in per_seed]))

    regrets = [float(r["regret_per_decision"]) for r in per_seed]
    return {"policy": name, "label": _LABELS[name],
            "decisions": int(sum(int(r["decisions"]) for r in per_seed)),
            "value_per_decision": mean("value_per_decision"),
            "oracle_value_per_decision": mean("oracle_value_per_decision"),
            "regret_per_decision": float(np.mean(regrets)),
            "regret_min": min(regrets), "regret_max": max(regrets),
            "cumulative_regret": mean("cumulative_regret"),
            "reward_rate": mean("reward_rate"),
            "curve": per_seed[0]["curve"],
            "per_seed": [{k: v for k, v in r.items() if k != "curve"} for r in per_seed]}


def bench_quality(events: int, customers: int, *, seeds: tuple[int, ...] = SEEDS,
                  policies: tuple[str, ...] = POLICIES,
                  progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Closed-loop runs of every policy on every seed; value per decision and regret vs the
    oracle, averaged over the seeds, and how many seeds Journey's regret is the lower one.

    Values and regret are per decision over the second half of each run (after warm-up).
    `decide_latency_us` holds the first seed's Journey per-decision latencies.
    """
    per: dict[str, list[dict[str, object]]] = {name: [] for name in policies}
    latency: list[float] = []
    for seed in seeds:
        for name in policies:
            if progress is not None:
                progress(f"{name}, seed {seed}")
            run = run_policy(name, events, customers, seed=seed)
            lat = run.pop("decide_latency_us", None)
            if lat is not None and not latency:
                latency = lat
            per[name].append(run)
    runs = {name: _across(name, rs) for name, rs in per.items()}
    if "journey" in runs:
        mine = [r["regret_per_decision"] for r in per["journey"]]
        for name, r in runs.items():
            theirs = [x["regret_per_decision"] for x in per[name]]
            r["journey_wins"] = sum(m < t for m, t in zip(mine, theirs, strict=True))
        runs["journey"]["realized"] = [r["realized"] for r in per["journey"]]
    return {"events": events, "customers": customers, "seeds": list(seeds), "runs": runs,
            "decide_latency_us": latency}
