"""Peer policies for the closed-loop quality benchmark, fed the features Journey's learner sees.

Each peer picks one of the eligible treatments (Journey's eligibility, contact policy and
budgets decide what is allowed; the peer decides what is shown) and learns from the decision's
net value: the action's value if the customer responded, minus the contact cost.

* `RandomPolicy` — uniform over the eligible treatments.
* `LinUCBPolicy` — river's `bandit.LinUCBDisjoint`: one Bayesian linear regression per
  treatment on the customer features, upper confidence bound of the net value.
* `VowpalPolicy` — Vowpal Wabbit `--cb_explore_adf`: one shared model over (customer features)
  × (action, channel, kind) interactions, ε-greedy, trained with inverse propensity scoring.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from engine.catalog import Catalog
from engine.learners import as_features
from features.vector import FEATURE_NAMES

__all__ = ["LinUCBPolicy", "PeerPolicy", "RandomPolicy", "VowpalPolicy"]


class PeerPolicy(Protocol):
    """A contextual bandit over eligible treatments."""

    name: str

    def choose(self, x: np.ndarray, eligible: np.ndarray) -> tuple[int, float]:
        """The treatment shown and the probability it was chosen with."""
        ...

    def learn(self, x: np.ndarray, eligible: np.ndarray, chosen: int, prob: float,
              reward: float) -> None:
        """One resolved decision's net value."""
        ...


class RandomPolicy:
    """Uniform over the eligible treatments (seeded)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def choose(self, x: np.ndarray, eligible: np.ndarray) -> tuple[int, float]:
        return int(eligible[self._rng.integers(len(eligible))]), 1.0 / len(eligible)

    def learn(self, x: np.ndarray, eligible: np.ndarray, chosen: int, prob: float,
              reward: float) -> None:
        return None


class LinUCBPolicy:
    """river's LinUCB (disjoint): arms are treatments, the reward is the net value."""

    name = "river LinUCBDisjoint"

    def __init__(self, seed: int, alpha: float = 1.0, beta: float = 1.0,
                 bias: bool = True) -> None:
        from river import bandit

        self._bandit = bandit.LinUCBDisjoint(alpha=alpha, beta=beta, seed=seed)
        self._bias = bias

    def _features(self, x: np.ndarray) -> dict[str, float]:
        # river's BayesianLinearRegression has no intercept: Journey's constant x[0] is one
        return {"bias": 1.0, **as_features(x)} if self._bias else as_features(x)

    def choose(self, x: np.ndarray, eligible: np.ndarray) -> tuple[int, float]:
        arm = self._bandit.pull([int(t) for t in eligible], context=self._features(x))
        return int(arm), 1.0  # deterministic given its posterior (ties broken by seed)

    def learn(self, x: np.ndarray, eligible: np.ndarray, chosen: int, prob: float,
              reward: float) -> None:
        self._bandit.update(chosen, self._features(x), reward)


class VowpalPolicy:
    """Vowpal Wabbit's contextual bandit with action-dependent features (`cb_explore_adf`).

    Shared namespace `u`: the customer features; action namespace `a`: action id, channel
    and kind; `-q ua` crosses them, so what is learned about a channel carries over to every
    action sent on it. Costs are negated net values.
    """

    name = "Vowpal Wabbit cb_explore_adf"

    def __init__(self, catalog: Catalog, seed: int, epsilon: float = 0.05) -> None:
        import vowpalwabbit

        self._vw = vowpalwabbit.Workspace(
            f"--cb_explore_adf -q ua --epsilon {epsilon} --random_seed {seed} --quiet")
        self._rng = np.random.default_rng(seed)
        self._lines = []
        for t in range(catalog.n_treatments):
            action, channel = catalog.treatment(t)
            self._lines.append(f"|a id_{action.id} ch_{channel} kind_{action.kind} "
                               f"idch_{action.id}_{channel}")

    def _example(self, x: np.ndarray, eligible: np.ndarray,
                 label: tuple[int, float, float] | None = None) -> list[str]:
        shared = "shared |u " + " ".join(
            f"{name}:{x[i]:.6g}" for i, name in enumerate(FEATURE_NAMES) if i and x[i] != 0.0)
        lines = [shared]
        for t in eligible:
            line = self._lines[int(t)]
            if label is not None and label[0] == int(t):
                line = f"0:{label[1]:.6g}:{label[2]:.6g} {line}"
            lines.append(line)
        return lines

    def choose(self, x: np.ndarray, eligible: np.ndarray) -> tuple[int, float]:
        pmf = np.asarray(self._vw.predict(self._example(x, eligible)), dtype=np.float64)
        pmf = pmf / pmf.sum()
        j = int(self._rng.choice(len(pmf), p=pmf))
        return int(eligible[j]), float(pmf[j])

    def learn(self, x: np.ndarray, eligible: np.ndarray, chosen: int, prob: float,
              reward: float) -> None:
        self._vw.learn(self._example(x, eligible, (chosen, -reward, prob)))
