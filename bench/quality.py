"""Decision quality in closed loop on the simulator: Journey vs control, random and oracle.

Every policy meets the same simulated customers (same seed) and is scored by the simulator's
oracle: the expected net value `P(response) × value − cost` of what it chose, and the best
eligible choice's (regret is the difference). Realized uplift comes from the engine's own
learned-vs-control split of the Journey run.
"""

from __future__ import annotations

import numpy as np

from engine.core import CoreConfig
from engine.decision import seed_of
from engine.engine import Engine
from engine.simulator import Simulator

__all__ = ["bench_quality"]


def bench_quality(events: int, customers: int, *, seed: int = 7,
                  control_share: float = 0.2) -> dict[str, object]:
    """Closed-loop run; returns oracle-scored value per decision by policy and phase."""
    eng = Engine(config=CoreConfig(seed=seed, control_share=control_share))
    sim = Simulator(eng.core.catalog, seed=seed, customers=customers)
    cat = eng.core.catalog
    scored: dict[int, np.ndarray] = {}
    original = eng.core.scorer.score

    def spy(*args, **kwargs):
        res = original(*args, **kwargs)
        scored[int(args[-1])] = res.status
        return res

    eng.core.scorer.score = spy  # type: ignore[method-assign]
    rng = np.random.default_rng(seed)
    totals = {k: np.zeros(2) for k in ("learned", "control", "random", "oracle")}
    warm = events // 2
    n = 0
    for rec in sim.events(events):
        n += 1
        try:
            decisions = eng.process(rec)
        except Exception:  # noqa: BLE001 - malformed input is not scored here
            continue
        for d in decisions:
            status = scored.pop(seed_of(d.decision_id))
            c = sim._by_user.get(d.customer_id)
            if c is not None and n > warm:
                elig = np.flatnonzero(status == 0)
                ev = np.array([sim.true_response(c.idx, *_ids(cat, t)) * cat.value[t]
                               - cat.cost[t] for t in elig])
                chosen = next(t for t in elig if _ids(cat, t) == (d.action_id, d.channel))
                mine = sim.true_response(c.idx, d.action_id, d.channel) * cat.value[chosen] \
                    - cat.cost[chosen]
                totals[d.policy] += (mine, 1)
                totals["random"] += (ev[rng.integers(len(ev))], 1)
                totals["oracle"] += (ev.max(), 1)
            sim.deliver(d.to_dict())
    out: dict[str, object] = {k: v[0] / max(v[1], 1) for k, v in totals.items()}
    out["realized"] = eng.core.uplift.summary()
    return out


def _ids(cat, t):
    action, channel = cat.treatment(int(t))
    return action.id, channel
