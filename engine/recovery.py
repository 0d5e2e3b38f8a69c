"""Rebuilding a process's shared decisioning state from resumed per-key snapshots.

The flow snapshots per-customer state and per-treatment learners (bytewax recovery); what
the decision core aggregates across keys — the weight board and its version, popularity,
budgets, uplift counts, the context table and the event-time watermark — is re-derived
from those snapshots when each key's logic is rebuilt on resume, so a resumed run decides
exactly as an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core import DecisionCore, Example
from engine.learners import ActionLearner
from engine.uplift import PolicyStats
from features.state import CustomerState, Slot

__all__ = ["Tally", "restore_customer", "restore_treatment"]


@dataclass(slots=True)
class Tally:
    """Resolved decisions of one treatment, per policy (kept beside its learner)."""

    by_policy: dict[str, PolicyStats] = field(default_factory=dict)

    def add(self, ex: Example, value: float) -> None:
        """Count one resolved decision with its net value (value if responded, − cost)."""
        s = self.by_policy.setdefault(ex.policy, PolicyStats())
        s.decisions += 1
        s.rewards += int(ex.y)
        s.revenue += ex.revenue
        s.value += value
        s.value_sq += value * value


def restore_treatment(core: DecisionCore, treatment: int, learner: ActionLearner,
                      tally: Tally) -> None:
    """Publish a resumed learner and add its outcomes back into the core's aggregates."""
    core.board.restore(treatment, learner)
    action = int(core.catalog.t_action[treatment])
    for policy, s in tally.by_policy.items():
        core.popularity[action] += s.rewards
        core.budget_left[action] -= s.decisions
        core.uplift.merge(policy, s)


def restore_customer(core: DecisionCore, state: CustomerState | None) -> float:
    """Count a resumed customer's unresolved decisions against budgets; its last event time.

    Every decision is either resolved (counted by its treatment's tally) or still pending
    in its customer's state, so budgets come back exact.
    """
    if state is None:
        return 0.0
    for p in state.pending:
        if not p.resolved:
            core.budget_left[p.action] -= 1
    return float(state.row[Slot.LAST_SEEN])
