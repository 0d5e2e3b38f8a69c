"""The flow's event-time watermark resists an outlier (`--future-tolerance 0` lets one in):
one event dated 2099 expires no state and fires no timer; a genuine move of time does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from features.identity import customer_key
from features.schema import RawRecord
from flows.settings import Settings
from tests.flows.replay import final_snapshots, run_with_crashes

SWEEPING = Settings(seed=11, progress=False, metrics_port=0, future_tolerance=0.0,
                    state_ttl=3600.0, timer_sweep=0.05, wake_limit=0.2)
"""Sweeps every 50 ms of wall time while the source idles: expiry and timers follow the
watermark; an hour of event time idle expires a customer."""


def _story(make_event: Callable[..., dict[str, Any]], late_minute: float) -> list[RawRecord]:
    """Three shoppers leave a cart (email allowed), one event says 2099, then three other
    customers' events at `late_minute`."""
    events = []
    for i in range(3):
        user = f"early-{i}"
        events += [
            make_event("identify", user=user, minute=i, traits={"consent": {"email": True}},
                       context={"timezone": "UTC"}),
            make_event("track", "Product Added", user=user, minute=i + 1,
                       properties={"price": 50, "quantity": 1, "category": "shoes"}),
        ]
    events.append(dict(make_event("page", "Home", user="clock-2099", minute=5),
                       timestamp="2099-01-01T00:00:00Z"))
    events += [make_event("page", "Home", user=f"late-{i}", minute=late_minute + i)
               for i in range(3)]
    return [RawRecord(orjson.dumps(e), "events", "t") for e in events]


def _run(make_event: Callable[..., dict[str, Any]], tmp_path: Any, late_minute: float,
         crashes: list[int]) -> tuple[set[str], list[dict[str, Any]], float]:
    expired = REGISTRY.get_sample_value("journey_expired_keys_total") or 0.0
    decisions, dead, _ = run_with_crashes(_story(make_event, late_minute), tmp_path / "db",
                                          crashes, settings=[SWEEPING] * (len(crashes) + 1),
                                          idle=2.0, batch=1)
    assert not dead  # 2099 is within the decoder's bounds: only the watermark can stop it
    secret = SWEEPING.secret.encode()
    keys = {k for step, k in final_snapshots(tmp_path / "db") if ".update_and_decide." in step}
    early = {f"early-{i}" for i in range(3) if customer_key(f"u:early-{i}", secret) in keys}
    return early, [orjson.loads(line) for _, line in decisions], \
        (REGISTRY.get_sample_value("journey_expired_keys_total") or 0.0) - expired


@pytest.mark.parametrize("crashes", [[], [8]], ids=["running", "resumed"])
def test_one_event_dated_far_ahead_expires_nothing_and_fires_no_timer(make_event, tmp_path,
                                                                      crashes):
    """... also after a crash and resume, where the outlier's own snapshot (last seen in
    2099) is one of the times the resumed watermark is rebuilt from."""
    early, decisions, expired = _run(make_event, tmp_path, 20, crashes)
    assert early == {"early-0", "early-1", "early-2"}
    assert expired == 0
    assert not [d for d in decisions if d["trigger"] == "cart_abandoned"]


def test_a_genuine_move_of_time_still_expires_idle_customers(make_event, tmp_path):
    early, _, expired = _run(make_event, tmp_path, 600, [])
    assert early == set()
    assert expired >= 3
