"""World "retail": the bundled shopper simulator (`engine/simulator.py`) as a `World`.

The simulator Journey was tuned on, kept as one world among several so its numbers stay
comparable. Its oracle is the simulator's `true_response` × the action's catalog value −
the channel cost (a click is the reward: the catalog written for it declares no conversion).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.catalog import DEFAULT_CATALOG, Catalog, load_catalog
from engine.errors import CatalogError
from engine.simulator import START, Simulator

__all__ = ["RetailWorld"]

DAY = 86400.0
_CLICK_IS_THE_REWARD = """
# Written by bench/worlds/retail.py: the simulator's oracle scores a click at the action's
# value, so a click (not a later order's revenue) is the reward.
outcomes:
  respond: [Promotion Clicked]
  convert: {}
"""


def _ts(value: Any) -> float:
    from bench.worlds.world import _ts as parse

    return parse(value)


class RetailWorld:
    """`World`'s interface over `Simulator` (one partition)."""

    name = "retail"

    def __init__(self, *, seed: int, customers: int | None = None,
                 days: float | None = None) -> None:
        self.seed = seed
        self.days = float(days if days is not None else 21.0)
        self.start = START
        self.end = START + self.days * DAY
        self.catalog = load_catalog(DEFAULT_CATALOG)
        self._sim = Simulator(self.catalog, seed=seed,
                              customers=customers if customers is not None else 2000)
        self._users = self._sim._by_user  # the simulator keys customers by user id
        self.requests = 0
        self.delivered = 0
        self.clock = START
        self._values: dict[tuple[str, str], tuple[float, float]] = {}
        self._shown: dict[str, float] = {}
        self.realized: dict[str, float] = {}
        """Realized net value of every delivered decision, by decision id."""

    def write_catalog(self, folder: str | Path) -> Path:
        """The shipped retail catalog, with clicks as the reward where the catalog schema
        has `outcomes` (v2); the plain shipped file where it has not (v1)."""
        text = DEFAULT_CATALOG.read_text() + _CLICK_IS_THE_REWARD
        path = Path(folder) / "catalog.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        try:
            load_catalog(path)
        except CatalogError:
            path.write_text(DEFAULT_CATALOG.read_text())
        return path

    def events(self) -> Iterator[dict[str, Any]]:
        """The simulator's records until the horizon."""
        for rec in self._sim.events(1 << 62):
            assert isinstance(rec, dict)
            ts = _ts(rec["timestamp"]) if "timestamp" in rec else self.clock
            if ts >= self.end:
                return
            self.clock = max(self.clock, ts)
            props = rec.get("properties") or {}
            if rec.get("type") in ("page", "screen") and props.get("placement"):
                self.requests += 1
            did = props.get("decision_id")
            if rec.get("event") == "Promotion Clicked" and did in self._shown:
                self.realized[did] += self._shown.pop(did)
            yield rec

    def deliver(self, decision: Mapping[str, Any]) -> None:
        """Hand a decision to the simulated customer."""
        self.delivered += 1
        value, cost = self._treatment(str(decision["action_id"]), str(decision["channel"]))
        did = str(decision["decision_id"])
        self.realized[did], self._shown[did] = -cost, value
        self._sim.deliver(dict(decision))

    def _treatment(self, action_id: str, channel: str) -> tuple[float, float]:
        if not self._values:
            cat: Catalog = self.catalog
            for t in range(cat.n_treatments):
                a, ch = cat.treatment(t)
                self._values[(a.id, ch)] = (float(cat.value[t]), float(cat.cost[t]))
        try:
            return self._values[(action_id, channel)]
        except KeyError as e:
            msg = f"no treatment {action_id!r} on {channel!r} in the retail catalog"
            raise KeyError(msg) from e

    def knows(self, customer_id: str) -> bool:
        """Whether decisions for `customer_id` reach a simulated customer (the simulator
        reacts to known customers only; a device's anonymous decisions go unanswered)."""
        return customer_id in self._users

    def expected_net_values(self, customer_id: str, pairs: list[tuple[str, str]],
                            ts: float | str) -> list[float]:
        """`expected_net_value` of many (action id, channel) pairs at once."""
        return [self.expected_net_value(customer_id, a, ch, ts) for a, ch in pairs]

    def response_probability(self, customer_id: str, action_id: str, channel: str,
                             ts: float | str) -> float:
        """Oracle: the simulator's P(click)."""
        return self._sim.true_response(self._users[customer_id].idx, action_id, channel)

    def expected_net_value(self, customer_id: str, action_id: str, channel: str,
                           ts: float | str) -> float:
        """Oracle: P(click) × the action's value − the channel cost."""
        value, cost = self._treatment(action_id, channel)
        return self.response_probability(customer_id, action_id, channel, ts) * value - cost
