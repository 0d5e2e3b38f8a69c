"""The learning step: labelled decisions into the response model, finished ones into the
value model, both republished into the scorer's weight board.

`Learning` is what the flow's `learn` step keeps (one key: the model is shared by every
treatment) and snapshots; the in-process `Engine` drives the same `apply`. Per-treatment
tallies of finished decisions ride along, keyed by stable treatment id, so a resumed
process rebuilds popularity, budgets and uplift (`engine.recovery`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core import DecisionCore, Example, Finished
from engine.model import ResponseModel, ValueModel
from engine.uplift import PolicyStats

__all__ = ["Learning", "Tally"]


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
    tallies: dict[str, Tally] = field(default_factory=dict)
    version: int = 0
    """Publishes so far (the weight board's version)."""

    @classmethod
    def of(cls, core: DecisionCore) -> Learning:
        """The learning state of a core (shares its models)."""
        return cls(core.model, core.values)

    def apply(self, core: DecisionCore, items: list[Example | Finished]) -> None:
        """Learn from labelled and finished decisions, then republish once."""
        if not items:
            return
        for item in items:
            if isinstance(item, Example):
                core.learn(item)
            else:
                core.settle(item)
                tid = core.catalog.treatment_id(item.treatment)
                self.tallies.setdefault(tid, Tally()).add(item)
        self.version += 1
        core.publish()
