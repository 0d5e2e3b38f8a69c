"""Live uplift of personalization: learned policy vs the generic control group."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

__all__ = ["PolicyStats", "UpliftTracker"]


@dataclass(slots=True)
class PolicyStats:
    """Resolved decisions of one policy: how many, how many responded, revenue."""

    decisions: int = 0
    rewards: int = 0
    revenue: float = 0.0
    value: float = 0.0
    value_sq: float = 0.0

    @property
    def rate(self) -> float:
        """Reward rate (responses per resolved decision)."""
        return self.rewards / self.decisions if self.decisions else 0.0

    @property
    def value_per_decision(self) -> float:
        """Net value per resolved decision: action value if responded, minus contact cost."""
        return self.value / self.decisions if self.decisions else 0.0

    @property
    def revenue_per_decision(self) -> float:
        """Attributed revenue per resolved decision."""
        return self.revenue / self.decisions if self.decisions else 0.0


class UpliftTracker:
    """Counts outcomes per policy and reports `learned − control` with a 95% interval."""

    def __init__(self) -> None:
        self.stats = {"learned": PolicyStats(), "control": PolicyStats()}
        self._lock = threading.Lock()

    def record(self, policy: str, reward: bool, revenue: float, value: float) -> None:
        """One resolved decision: responded or not, revenue, and net value (value − cost)."""
        with self._lock:
            s = self.stats[policy]
            s.decisions += 1
            s.rewards += int(reward)
            s.revenue += revenue
            s.value += value
            s.value_sq += value * value

    def merge(self, policy: str, other: PolicyStats) -> None:
        """Add counts restored from a snapshot."""
        with self._lock:
            s = self.stats[policy]
            s.decisions += other.decisions
            s.rewards += other.rewards
            s.revenue += other.revenue
            s.value += other.value
            s.value_sq += other.value_sq

    def add_revenue(self, policy: str, revenue: float) -> None:
        """Revenue attributed to a decision already counted as responded."""
        with self._lock:
            self.stats[policy].revenue += revenue

    def uplift(self) -> tuple[float, float, float]:
        """(difference of reward rates, 95% CI low, high) by the normal approximation."""
        a, b = self.stats["learned"], self.stats["control"]
        diff = a.rate - b.rate
        if not a.decisions or not b.decisions:
            return diff, float("-inf"), float("inf")
        se = math.sqrt(a.rate * (1 - a.rate) / a.decisions + b.rate * (1 - b.rate) / b.decisions)
        return diff, diff - 1.96 * se, diff + 1.96 * se

    def value_uplift(self) -> tuple[float, float, float]:
        """(personalized − generic net value per decision, 95% CI low, high)."""
        a, b = self.stats["learned"], self.stats["control"]
        diff = a.value_per_decision - b.value_per_decision
        if a.decisions < 2 or b.decisions < 2:
            return diff, float("-inf"), float("inf")

        def var(s: PolicyStats) -> float:
            mean = s.value_per_decision
            return max(s.value_sq / s.decisions - mean * mean, 0.0) / (s.decisions - 1)

        se = math.sqrt(var(a) + var(b))
        return diff, diff - 1.96 * se, diff + 1.96 * se

    def summary(self) -> dict[str, float]:
        """Flat figures for logs, the run summary and metrics."""
        diff, lo, hi = self.uplift()
        vdiff, vlo, vhi = self.value_uplift()
        a, b = self.stats["learned"], self.stats["control"]
        return {
            "learned_decisions": a.decisions,
            "learned_reward_rate": round(a.rate, 4),
            "learned_revenue_per_decision": round(a.revenue_per_decision, 3),
            "learned_value_per_decision": round(a.value_per_decision, 4),
            "control_decisions": b.decisions,
            "control_reward_rate": round(b.rate, 4),
            "control_revenue_per_decision": round(b.revenue_per_decision, 3),
            "control_value_per_decision": round(b.value_per_decision, 4),
            "uplift_reward_rate": round(diff, 4),
            "uplift_ci95_low": round(lo, 4),
            "uplift_ci95_high": round(hi, 4),
            "uplift_value_per_decision": round(vdiff, 4),
            "uplift_value_ci95_low": round(vlo, 4),
            "uplift_value_ci95_high": round(vhi, 4),
            "uplift_revenue_per_decision": round(
                a.revenue_per_decision - b.revenue_per_decision, 3),
        }
