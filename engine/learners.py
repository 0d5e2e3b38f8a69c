"""Online learners (river), exported to the dense arrays the scoring kernel reads.

`ActionLearner` is the propensity model of one treatment (action × channel): river's
logistic regression (AdaGrad, so rarely-set features still move) on the feature vector,
with a diagonal Laplace posterior (precision
`q_i += p(1-p) x_i²`, Chapelle & Li 2011) that Thompson sampling draws from.
`RepurchaseLearner` predicts whether a customer buys again within a horizon; its labels
arrive late (at the next order, or when the horizon passes).
Both follow river's interface: `learn_one(x, y) -> None`, `x` is never mutated, both pickle.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from river import linear_model, optim

from features.vector import FEATURE_NAMES, N_FEATURES

__all__ = ["ActionLearner", "RepurchaseLearner", "as_features"]


def as_features(x: np.ndarray) -> dict[str, float]:
    """A river feature dict from a vector (bias dropped: river has its own intercept)."""
    return {FEATURE_NAMES[i]: float(x[i]) for i in range(1, N_FEATURES) if x[i] != 0.0}


class ActionLearner:
    """Propensity of a response to one treatment, learned online from decision outcomes."""

    def __init__(self, *, lr: float = 0.1, prior_precision: float = 100.0,
                 intercept_init: float = -2.0, l2: float = 1e-4) -> None:
        self.lr = lr
        self.prior_precision = prior_precision
        self.intercept_init = intercept_init
        self.l2 = l2
        self.model = linear_model.LogisticRegression(
            optimizer=optim.AdaGrad(lr), l2=l2, intercept_init=intercept_init,
            intercept_lr=lr)
        self.precision: dict[str, float] = {}
        self.intercept_precision = prior_precision
        self.n = 0
        self.positives = 0

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        """P(response | x) under the current point estimate."""
        return float(self.model.predict_proba_one(dict(x))[True])

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """Update on one outcome: `y` is True when the decision was responded to."""
        p = self.predict_proba_one(x)
        g = p * (1.0 - p)
        for k, v in x.items():
            self.precision[k] = self.precision.get(k, self.prior_precision) + g * v * v
        self.intercept_precision += g
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
            v[i] = 1.0 / self.precision.get(name, self.prior_precision)
        v[0] = 1.0 / self.intercept_precision
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

