"""The Engine driver of the quality benchmark: a world's closed loop through Journey's core.

The world writes its catalog (v2), `Engine` loads it; a peer is plugged in through the
Policy seam (`Engine(catalog, ..., policy=peer)`), Journey's learner runs with its live
control group (`control_share`), the generic control alone with `control_share=1`. Every
decision is scored by the world's oracle among the treatments that were eligible for it
(what the peer was offered; for Journey's own policy, the decision's `distribution`, or the
scorer's eligibility when the record carries none), then delivered back to the world.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.quality import Tally, summary

__all__ = ["Recorder", "run_engine"]

DAY = 86400.0
CONTROL_SHARE = 0.1
"""Journey's live control group in the benchmark (its share of customers)."""


class Recorder:
    """A peer behind the Policy seam that also notes what each decision was offered."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer
        self.name = peer.name
        self.offered: deque[tuple[np.ndarray, int]] = deque()

    def choose(self, choice: Any) -> tuple[int, float]:
        t, p = self.peer.choose(choice)
        eligible = np.asarray(choice.eligible)
        if int(t) not in set(eligible.tolist()) or not 0.0 < p <= 1.0:
            msg = (f"{self.name} chose treatment {t} with probability {p!r}; it must be one "
                   f"of the eligible {eligible.tolist()} with a probability in (0, 1]")
            raise AssertionError(msg)
        self.offered.append((eligible.copy(), int(t)))
        return int(t), float(p)

    def learn(self, choice: Any, treatment: int, probability: float, reward: float) -> None:
        self.peer.learn(choice, treatment, probability, reward)


def _journey_eligible(eng: Any) -> Callable[[Any], list[int]]:
    """Eligible treatments of a decision made by Journey's own policy."""
    index = {f"{a.id}@{ch}": t for t, (a, ch) in
             ((t, eng.core.catalog.treatment(t)) for t in range(eng.core.catalog.n_treatments))}
    statuses: dict[int, np.ndarray] = {}
    scorer = eng.core.scorer
    original = scorer.score

    def score(x: Any, *args: Any) -> Any:  # the v1 core: status per treatment, 0 = eligible
        res = original(x, *args)
        statuses[int(args[-1])] = np.asarray(res.status).copy()
        return res

    scorer.score = score

    def eligible(d: Any) -> list[int]:
        dist = getattr(d, "distribution", None)
        if dist:
            return [index[row["treatment"]] for row in dist]
        from engine.decision import seed_of

        status = statuses.pop(seed_of(d.decision_id), None)
        if status is None:
            msg = (f"decision {d.decision_id!r} carries no distribution and the scorer saw no "
                   f"eligibility for it: the harness cannot score Journey's choice")
            raise AssertionError(msg)
        return np.flatnonzero(status == 0).tolist()

    return eligible


def run_engine(world: Any, name: str, seed: int, make_peer: Callable[..., Any],
               settings: dict[str, float] | None) -> dict[str, Any]:
    """One closed loop of `name` ("journey", "control" or a peer) on `world` via `Engine`."""
    from engine.catalog import load_catalog
    from engine.core import CoreConfig
    from engine.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        catalog = load_catalog(world.write_catalog(tmp))
    share = {"journey": CONTROL_SHARE, "control": 1.0}.get(name, 0.0)
    config = CoreConfig(seed=seed, control_share=share)
    recorder = None
    if name in ("journey", "control"):
        eng = Engine(catalog, config=config)
        eligible_of = _journey_eligible(eng)
    else:
        recorder = Recorder(make_peer(name, world.name, seed, "engine", settings))
        eng = Engine(catalog, config=config, policy=recorder)
    names = [(a.id, ch) for a, ch in (catalog.treatment(t) for t in range(catalog.n_treatments))]
    wanted = "control" if name == "control" else "learned"
    tally = Tally()

    def handle(d: Any) -> None:
        if recorder is not None:
            offered, t = recorder.offered.popleft()
            if names[t] != (d.action_id, d.channel):
                msg = f"decision {d.decision_id!r} is not the choice the peer made ({names[t]})"
                raise AssertionError(msg)
            eligible = offered.tolist()
        else:
            eligible = eligible_of(d)
        record = {"decision_id": d.decision_id, "customer_id": d.customer_id, "ts": d.ts,
                  "action_id": d.action_id, "channel": d.channel}  # what the world reads
        if d.policy == wanted:
            tally.score(world, record, [names[t] for t in eligible])
            tally.latency_us.append(d.latency_us)
        world.deliver(record)

    for rec in world.events():
        for d in eng.process(rec):
            handle(d)
    for d in eng.advance_to(world.clock + catalog.attribution_window + 7 * DAY):
        handle(d)
    out = summary(name, tally, world)
    if name == "journey":
        out["uplift"] = eng.core.uplift.summary()
        out["decide_latency_us"] = tally.latency_us
    return out
