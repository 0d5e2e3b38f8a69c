"""The learning step: labelled decisions into the response model, finished ones into the
value model, both republished into the scorer's weight board.

`Learning` is what the flow's `learn` step keeps (one key: the model is shared by every
treatment) and snapshots; the in-process `Engine` drives the same `apply`. Per-treatment
tallies of finished decisions ride along, keyed by stable treatment id, so a resumed
process rebuilds popularity, budgets and uplift (`engine.recovery`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.copurchase import CoPurchase
from engine.core import DecisionCore, Example, Finished
from engine.model import ResponseModel, ValueModel
from engine.repurchase import PurchaseSummary, RepurchaseModel
from engine.uplift import PolicyStats

__all__ = ["Forgotten", "Item", "Learning", "Purchase", "Tally"]


@dataclass(frozen=True, slots=True)
class Purchase:
    """An order for the repurchase model: (customer key, summary including it)."""

    event: tuple[str, PurchaseSummary]


@dataclass(frozen=True, slots=True)
class Forgotten:
    """An erased customer: the repurchase model's sample drops her."""

    key: str


Item = Example | Finished | tuple[str, ...] | Purchase | Forgotten
"""What the learn step takes."""


@dataclass(slots=True)
class Tally:
    """Finished decisions of one treatment, per policy."""

    by_policy: dict[str, PolicyStats] = field(default_factory=dict)

    def add(self, done: Finished) -> None:
        """Count one finished decision with its net value."""
        s = self.by_policy.setdefault(done.policy, PolicyStats())
        s.decisions += 1
        s.rewards += int(done.responded)
        s.revenue += done.revenue
        s.value += done.net
        s.value_sq += done.net * done.net


@dataclass(slots=True)
class Learning:
    """The models and the tallies: the learn step's whole state."""

    model: ResponseModel
    values: ValueModel
    copurchase: CoPurchase = field(default_factory=CoPurchase)
    repurchase: RepurchaseModel = field(default_factory=RepurchaseModel)
    tallies: dict[str, Tally] = field(default_factory=dict)
    version: int = 0
    """Publishes so far (the weight board's version)."""

    @classmethod
    def of(cls, core: DecisionCore) -> Learning:
        """The learning state of a core (shares its models)."""
        return cls(core.model, core.values, core.copurchase, core.repurchase)

    def apply(self, core: DecisionCore, items: list[Item]) -> None:
        """Learn from labelled and finished decisions, orders and erasures; republish."""
        if not items:
            return
        for item in items:
            if isinstance(item, Purchase):
                self.repurchase.observe_order(*item.event)
                continue
            if isinstance(item, Forgotten):
                self.repurchase.forget(item.key)
                continue
            if isinstance(item, tuple):
                self.copurchase.observe_order(item)
                continue
            if isinstance(item, Example):
                core.learn(item)
            else:
                core.settle(item)
                tid = core.catalog.treatment_id(item.treatment)
                self.tallies.setdefault(tid, Tally()).add(item)
        self.version += 1
        core.publish()
