"""Crash and resume: a flow aborted at random points ends where an uninterrupted one does.

Each restart gets a fresh `Runtime` (what a new process would have): the decision core's
shared state must come back from the recovery snapshots alone.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from engine import Engine, load_catalog
from engine.simulator import Simulator
from features.schema import RawRecord
from flows.settings import Settings
from tests.flows.replay import BATCH, final_snapshots, run_with_crashes


def _closed_loop(events: int, customers: int, seed: int) -> list[RawRecord]:
    """Traffic recorded from a closed loop (customers answer decisions) with a bad record."""
    catalog = load_catalog()
    sim = Simulator(catalog, seed=seed, customers=customers, bad_rate=0.0)
    eng = Engine(catalog, seed=seed)
    out: list[RawRecord] = []
    while len(out) < events:
        batch = list(sim.events(100))
        if not batch:
            break
        for rec in batch:
            out.append(RawRecord(orjson.dumps(rec), "events", "recorded"))
            for d in eng.process(rec):
                sim.deliver(d.to_dict())
    out.insert(len(out) // 2, RawRecord(b'{"type": "track"', "events", "recorded"))
    return out


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return _closed_loop(3000, 120, seed=5)


def _customers(snaps: dict[tuple[str, str], Any]) -> dict[str, tuple[bytes, int, int]]:
    out = {}
    for (step, key), snap in snaps.items():
        if ".update_and_decide." in step:
            _, state, _guard = snap
            if state is not None:
                out[key] = (state.row.tobytes(), int(state.stage), len(state.pending))
    return out


def _learning(snaps: dict[tuple[str, str], Any]) -> tuple[Any, ...]:
    """The learn step's one key (every treatment shares the response model): the model's
    exported rows and counts, the value model and each treatment's tallies."""
    [learning] = [snap for (step, _key), snap in snaps.items() if ".learn." in step]
    model = learning.model
    return (tuple(a.tobytes() for a in model.export()), model.n, model.positives,
            {b: (blk.w.tobytes(), blk.h.tobytes(), blk.tau.tobytes())
             for b, blk in model.blocks.items()},
            sorted(learning.values.sums.items()), learning.version,
            {tid: {p: (s.decisions, s.rewards, s.revenue, s.value)
                   for p, s in tally.by_policy.items()}
             for tid, tally in learning.tallies.items()})


def _without_latency(line: str) -> dict[str, Any]:
    d = orjson.loads(line)
    d.pop("latency_us")
    return d


def test_crash_and_resume_ends_where_an_uninterrupted_run_ends(records, tmp_path):
    base_dec, base_dead, base_rt = run_with_crashes(records, tmp_path / "base", [])
    rng = random.Random(20261124)
    crashes = sorted(rng.sample(range(2, len(records) // BATCH - 1), 3))
    crashes = [c * BATCH for c in crashes]  # a source dies between reads, wherever they are
    dec, dead, rt = run_with_crashes(records, tmp_path / "crashed", crashes)

    base, crashed = final_snapshots(tmp_path / "base"), final_snapshots(tmp_path / "crashed")
    assert len(_customers(base)) > 50
    assert _customers(crashed) == _customers(base)  # per-customer features, stage, pending
    learned = _learning(base)
    assert learned[1] > 100 and len(learned[-1]) > 10  # labels; treatments with tallies
    assert _learning(crashed) == learned  # the shared model, the value model and tallies
    # the process's shared state, rebuilt on the last resume, matches the uninterrupted run
    assert rt.core.board.version == base_rt.core.board.version
    assert np.array_equal(rt.core.board.W, base_rt.core.board.W)
    assert np.array_equal(rt.core.budget_left, base_rt.core.budget_left)
    assert np.array_equal(rt.core.popularity, base_rt.core.popularity)
    assert rt.core.uplift.stats["learned"].decisions == base_rt.core.uplift.stats[
        "learned"].decisions

    # nothing lost: every decision of the uninterrupted run was emitted, with the same id;
    # repeats only re-emit what followed the last snapshot, identical but for their latency
    base_ids = [k for k, _ in base_dec]
    ids = [k for k, _ in dec]
    assert set(ids) == set(base_ids)
    by_id = {k: _without_latency(line) for k, line in base_dec}
    assert all(_without_latency(line) == by_id[k] for k, line in dec)
    assert len(ids) - len(base_ids) <= 3 * 50 * 4  # at most a batch of events per crash
    assert len(base_dead) == 1 and {line for _, line in dead} == {base_dead[0][1]}


def test_a_timer_pending_at_the_crash_fires_after_resume_without_new_events(make_event):
    """Cart abandoned at minute 601, due an hour later; the watermark passed it before the
    crash, no sweep ran (sweeps off in the first process); after resume no event arrives,
    and the resumed process's sweep fires it from the restored watermark."""
    events = [
        make_event("identify", user="cart-owner", traits={"consent": {"email": True}},
                   context={"timezone": "UTC"}, minute=600),
        make_event("track", "Product Added", user="cart-owner", minute=601,
                   properties={"price": 50, "quantity": 1}),
    ] + [make_event("page", "Home", user=f"other-{i}", minute=620 + 30 * i) for i in range(8)]
    records = [RawRecord(orjson.dumps(e), "events", "t") for e in events]
    first = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=3600.0)
    second = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=0.1)
    with tempfile.TemporaryDirectory() as d:
        decisions, _, _ = run_with_crashes(records, Path(d) / "db", [len(records)],
                                           settings=[first, second], idle=3.0)
    fired = [orjson.loads(line) for _, line in decisions]
    carts = [x for x in fired if x["trigger"] == "cart_abandoned"]
    assert [x["customer_id"] for x in carts] == ["cart-owner"]
    assert carts[0]["ts"] == "2026-03-02T11:01:00Z"  # fired at its due time, not on arrival
