"""Property-based state machine over identity, consent, duplicates and erasure.

Random interleavings of identify / alias / track / page / consent / forget / resend over a
few users and devices drive the in-process `Engine` step by step; invariants are checked
after every step, and at the end the same records run through the bytewax flow, whose
output must satisfy the same invariants (both run the tiers in `engine.routing`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from bytewax.testing import TestingSink, TestingSource, run_main
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine import Engine, load_catalog
from engine.decision import Decision
from features.errors import DecodeError
from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings

CATALOG = load_catalog()
USERS = ("u0", "u1", "u2")
DEVICES = ("d0", "d1", "d2", "d3")
OPT_IN = tuple(name for name, ch in CATALOG.channels.items() if ch.opt_in)
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
amounts = st.sampled_from([0, 1, 19.99, 250, 1e6, 1e300, -5])


class IdentityMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(CATALOG, seed=5)
        self.t = START
        self.n = 0
        self.records: list[bytes] = []
        self.decisions: list[Decision] = []
        self.consent: dict[str, dict[str, bool]] = {u: {} for u in USERS}
        self.erased: dict[str, datetime] = {}  # id (user or device) → erasure time
        self.links: dict[str, str] = {}  # device → the user it was last linked to

    # ------------------------------------------------------------------ helpers

    def _send(self, event: dict[str, Any]) -> list[Decision]:
        self.n += 1
        event.setdefault("messageId", f"m{self.n}")
        event["timestamp"] = self.t.isoformat()
        raw = orjson.dumps(event)
        self.records.append(raw)
        try:
            out = self.engine.process(raw)
        except DecodeError as e:  # the flow dead-letters it; nothing else may raise
            assert e.reason == "out_of_range", e
            return []
        self.decisions += out
        for d in out:
            self._check(d)
        return out

    def _check(self, d: Decision) -> None:
        assert d.customer_id not in self.erased, d.customer_id
        assert 0.0 < d.probability <= 1.0 and math.isfinite(d.probability)
        if d.channel in OPT_IN:  # only users give consent here, through identify
            assert self.consent.get(d.customer_id, {}).get(d.channel) is True, d

    def _who(self, user: str | None, device: str | None) -> dict[str, str]:
        ids = {}
        if user is not None:
            ids["userId"] = user
        if device is not None:
            ids["anonymousId"] = device
        return ids

    def _link(self, user: str, device: str | None) -> None:
        if device is None or device in self.erased:
            return
        self.links[device] = user

    # ------------------------------------------------------------------ rules

    @rule(minutes=st.integers(0, 240))
    def wait(self, minutes: int) -> None:
        self.t += timedelta(minutes=minutes)
        fired = self.engine.advance_to(self.t.timestamp())
        for d in fired:
            self._check(d)
        self.decisions += fired

    @rule(user=st.sampled_from(USERS), device=st.none() | st.sampled_from(DEVICES),
          consent=st.dictionaries(st.sampled_from(OPT_IN), st.booleans(), max_size=2))
    def identify(self, user: str, device: str | None, consent: dict[str, bool]) -> None:
        self._send({"type": "identify", **self._who(user, device),
                    "traits": {"firstName": "Ada", "consent": consent}})
        if user not in self.erased and (device is None or device not in self.erased):
            self.consent[user].update(consent)
        self._link(user, device)

    @rule(user=st.sampled_from(USERS), device=st.sampled_from(DEVICES))
    def alias(self, user: str, device: str) -> None:
        self._send({"type": "alias", "userId": user, "previousId": device})
        self._link(user, device)

    @rule(user=st.none() | st.sampled_from(USERS), device=st.none() | st.sampled_from(DEVICES),
          name=st.sampled_from(["Product Viewed", "Product Added", "Checkout Started",
                                "Order Completed", "Promotion Clicked"]),
          price=amounts, quantity=st.sampled_from([1, 3, 10**9]))
    def track(self, user: str | None, device: str | None, name: str, price: float,
              quantity: int) -> None:
        if user is None and device is None:
            return
        self._send({"type": "track", "event": name, **self._who(user, device),
                    "properties": {"price": price, "quantity": quantity, "revenue": price,
                                   "category": "shoes"}})
        if user is not None:
            self._link(user, device)

    @rule(user=st.none() | st.sampled_from(USERS), device=st.none() | st.sampled_from(DEVICES),
          placement=st.sampled_from(["home_hero", "cart_page", "app_home", "support_chat"]))
    def page(self, user: str | None, device: str | None, placement: str) -> None:
        if user is None and device is None:
            return
        self._send({"type": "page", **self._who(user, device),
                    "properties": {"placement": placement}})
        if user is not None:
            self._link(user, device)

    @rule(user=st.none() | st.sampled_from(USERS), device=st.none() | st.sampled_from(DEVICES))
    def forget(self, user: str | None, device: str | None) -> None:
        if user is None and device is None:
            return
        self._send({"type": "track", "event": "Forget Me", **self._who(user, device)})
        if device is not None:
            self.erased[device] = self.t
            user = user or self.links.get(device)
        if user is not None:
            self.erased[user] = self.t

    @precondition(lambda self: self.records)
    @rule(back=st.integers(1, 20))
    def resend(self, back: int) -> None:
        """A producer retry: the same bytes again, soon after; never a new decision."""
        raw = self.records[-min(back, len(self.records))]
        self.records.append(raw)
        assert self.engine.process(raw) == []

    # ------------------------------------------------------------------ invariants

    @invariant()
    def erased_customers_hold_no_state(self) -> None:
        for who in self.erased:
            assert self.engine.features(who) == {}, who

    @invariant()
    def models_stay_finite(self) -> None:
        board = self.engine.core.board
        assert all(math.isfinite(float(v)) for v in board.W.ravel()[:: max(1, board.W.size // 64)])

    def teardown(self) -> None:
        """The flow, over the same records: the same invariants hold for its decisions."""
        if not self.records:
            return
        s = Settings(seed=5, progress=False, metrics_port=0, timer_sweep=3600.0)
        rt = Runtime(s)
        rt.track("machine")
        out: list[tuple[str, str]] = []
        dead: list[tuple[str, str]] = []
        recs = [RawRecord(r, "events", "machine") for r in self.records]
        run_main(build_flow(s, source=TestingSource(recs), decisions=TestingSink(out),
                            dead_letters=TestingSink(dead), runtime=rt))
        assert rt.done("machine") == len(recs)  # every record handled: decided, skipped...
        for _, line in out:
            d = orjson.loads(line)
            when = datetime.fromisoformat(d["ts"])
            assert d["customer_id"] not in self.erased or when <= self.erased[d["customer_id"]]
            assert 0.0 < d["probability"] <= 1.0
        for _, line in dead:  # ... or dead-lettered with a reason
            assert orjson.loads(line)["reason"] == "out_of_range"


# No shrinking: each example ends with a bytewax run, which makes shrinking take minutes;
# a failure prints its (at most 30-step) program unshrunk.
IdentityMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate])
TestIdentityMachine = IdentityMachine.TestCase
