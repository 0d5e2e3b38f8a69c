"""The policy seam: what a decision offers a policy, and what a policy must do with it.

Journey's own policy is the scoring kernel over the response model (Thompson sampling with
exact propensities). Any other policy — a peer in `bench/`, a candidate under evaluation —
plugs in through `Engine(policy=...)`: Journey still decides *when* and *among what*
(triggers, eligibility, contact policy, budgets); the policy decides *what* and learns from
each decision's realized net value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.catalog import Catalog

__all__ = ["Choice", "Policy"]


@dataclass(frozen=True, slots=True)
class Choice:
    """One decision as a policy sees it."""

    decision_id: str
    x: np.ndarray
    """The customer vector (float32, `catalog.features.names` order)."""
    crosses: np.ndarray
    """(treatments × crosses) customer × action features (float32, `cross_names` order)."""
    cross_names: tuple[str, ...]
    eligible: np.ndarray
    """Treatment indices the policy may choose from (int64, never empty)."""
    catalog: Catalog


class Policy(Protocol):
    """A contextual bandit over eligible treatments."""

    name: str

    def choose(self, choice: Choice) -> tuple[int, float]:
        """The treatment shown and the probability the policy chose it with."""
        ...

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        """One finished decision: its realized net value (value if responded, − cost)."""
        ...
