"""Online learners (river), exported to the dense arrays the scoring kernel reads.

`ActionLearner` is the propensity model of one treatment (action × channel): river's
logistic regression on the feature vector with a diagonal Laplace posterior (precision
`q_i += p(1-p) x_i²`, Chapelle & Li 2011) that Thompson sampling draws from. The same
posterior preconditions river's updates (`NewtonStep`: each weight moves by its gradient over
its precision), so the mean and the variance Thompson sampling uses are one approximation.
`RepurchaseLearner` predicts whether a customer buys again within a horizon; its labels
arrive late (at the next order, or when the horizon passes).
Both follow river's interface: `learn_one(x, y) -> None`, `x` is never mutated, both pickle.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from river import linear_model, optim
from river.optim.base import Optimizer, Scheduler

from features.vector import FEATURE_NAMES, N_FEATURES

__all__ = ["ActionLearner", "InterceptStep", "NewtonStep", "Posterior", "RepurchaseLearner",
           "as_features"]


def as_features(x: np.ndarray) -> dict[str, float]:
    """A river feature dict from a vector (bias dropped: river has its own intercept)."""
    return {FEATURE_NAMES[i]: float(x[i]) for i in range(1, N_FEATURES) if x[i] != 0.0}


class Posterior:
    """Diagonal Laplace precision of a logistic model's weights (Chapelle & Li 2011)."""

    def __init__(self, prior_precision: float) -> None:
        self.prior = prior_precision
        self.weights: dict[str, float] = {}
        self.intercept = prior_precision

    def of(self, name: str) -> float:
        """Precision of one weight."""
        return self.weights.get(name, self.prior)

    def observe(self, x: Mapping[str, float], g: float) -> None:
        """Add one example's curvature `p(1-p) x_i²`."""
        for k, v in x.items():
            self.weights[k] = self.weights.get(k, self.prior) + g * v * v
        self.intercept += g


class NewtonStep(Optimizer):
    """river optimizer: a diagonal Newton step `w_i -= lr * g_i / precision_i`.

    The mean update of an online Laplace approximation: each weight's step shrinks as
    evidence about it accumulates, and rarely-set features keep their full step.
    """

    def __init__(self, posterior: Posterior, lr: float = 1.0) -> None:
        super().__init__(lr)
        self.posterior = posterior

    def _step_with_dict(self, w: dict[str, float], g: Mapping[str, float]) -> dict[str, float]:
        lr = self.learning_rate
        for i, gi in g.items():
            w[i] -= lr * gi / self.posterior.of(i)
        return w


class InterceptStep(Scheduler):
    """The intercept's Newton step size, `lr / precision`, as a river scheduler."""

    def __init__(self, posterior: Posterior, lr: float = 1.0) -> None:
        self.posterior = posterior
        self.lr = lr

    def get(self, t: int) -> float:
        return self.lr / self.posterior.intercept


class ActionLearner:
    """Propensity of a response to one treatment, learned online from decision outcomes.

    Defaults (`prior_precision=1000`, `lr=2`) were chosen in closed loop on the simulator
    over seeds 7, 11 and 13 (100k events each; see `bench/quality.py`): a tight prior
    keeps the 63 weights from chasing ~10%-rate noise, and a 2× Newton step makes up for
    the prior's pull toward zero while evidence is thin.
    """

    def __init__(self, *, lr: float = 2.0, prior_precision: float = 1000.0,
                 intercept_init: float = -2.0, l2: float = 1e-4) -> None:
        self.lr = lr
        self.prior_precision = prior_precision
        self.intercept_init = intercept_init
        self.l2 = l2
        self.posterior = Posterior(prior_precision)
        self.model = linear_model.LogisticRegression(
            optimizer=NewtonStep(self.posterior, lr), l2=l2, intercept_init=intercept_init,
            intercept_lr=InterceptStep(self.posterior, lr))
        self.n = 0
        self.positives = 0

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        """P(response | x) under the current point estimate."""
        return float(self.model.predict_proba_one(dict(x))[True])

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """Update on one outcome: `y` is True when the decision was responded to."""
        p = self.predict_proba_one(x)
        self.posterior.observe(x, p * (1.0 - p))
        self.model.learn_one(dict(x), bool(y))
        self.n += 1
        self.positives += int(bool(y))

    def export(self) -> tuple[np.ndarray, float, np.ndarray]:
        """The kernel's row for this treatment: (w, b, v).

        `w · x + b` is the logit and `v · x²` its variance (`x[0]` is the constant 1, so the
        intercept's variance sits in `v[0]`).
        """
        weights = self.model.weights
        w = np.zeros(N_FEATURES, dtype=np.float32)
        v = np.zeros(N_FEATURES, dtype=np.float32)
        for i in range(1, N_FEATURES):
            name = FEATURE_NAMES[i]
            w[i] = weights.get(name, 0.0)
            v[i] = 1.0 / self.posterior.of(name)
        v[0] = 1.0 / self.posterior.intercept
        return w, float(self.model.intercept), v


class RepurchaseLearner:
    """P(another order within the horizon), learned from labels that arrive later."""

    def __init__(self, *, lr: float = 0.02, horizon_days: float = 30.0) -> None:
        self.horizon = horizon_days * 86400.0
        self.model = linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), intercept_init=-1.0, intercept_lr=lr)
        self.n = 0

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        """Probability of a repeat order within the horizon."""
        return float(self.model.predict_proba_one(dict(x))[True])

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """Learn one resolved label."""
        self.model.learn_one(dict(x), bool(y))
        self.n += 1

