"""Learner settings a catalog may set (`learning:`), with their documented defaults.

None of these defaults was tuned on one simulator: the priors start weak and are then
estimated from the data (empirical Bayes), and the update is a damped (assumed-density)
Laplace step whose size needs no learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["LearningConfig"]


@dataclass(frozen=True, slots=True)
class LearningConfig:
    """Settings of the response model (`engine.model`) and the value model.

    `prior_logit_sd`: prior standard deviation of one treatment's logit before any data,
    split evenly over the model's blocks (global, attributes, crosses, channel, kind,
    category, action and treatment parts; a block that groups the treatments as a more
    specific one does is left out, and the split is over those kept); each block's prior
    precisions are then re-estimated from its posterior every `eb_every` examples (EM for a
    Gaussian prior variance), one per feature column (automatic relevance determination: a
    feature that matters is shrunk less than one that does not), within [`min_precision`,
    `max_precision`].
    `column_prior_weight`: pseudo-rows at the block's pooled precision behind each column's
    own estimate (small blocks such as `channel` have few rows to estimate a column from).
    `value_prior_weight`: pseudo-responses at the declared `value` behind each action's
    learned value per response.
    `fatigue`: whether contact-fatigue crosses enter the model (recent contacts, ignores).
    `covariance_budget`: floats the full posterior covariances may take (rows × features²
    per block); blocks that fit keep one, from the most shared (channel, kind, shared
    crosses) to the per-treatment rows, and the rest stay diagonal. 0: diagonal throughout.
    `memory`: examples over which evidence fades (every weight's data precision is
    multiplied by `exp(-eb_every / memory)` at each empirical-Bayes step), so tastes that
    drift are followed; 0 keeps every example forever.
    """

    prior_logit_sd: float = 1.5
    eb_every: int = 200
    min_precision: float = 0.05
    max_precision: float = 1e4
    column_prior_weight: float = 0.5
    value_prior_weight: float = 5.0
    fatigue: bool = True
    covariance_budget: int = 2_000_000
    memory: float = 0.0

    def __post_init__(self) -> None:
        positive = ("prior_logit_sd", "min_precision", "max_precision", "column_prior_weight")
        at_least_zero = ("value_prior_weight", "memory")
        for name in (*positive, *at_least_zero, "eb_every", "covariance_budget"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                msg = f"{name} must be a finite number, got {v!r}"
                raise ValueError(msg)
        for name in positive:
            if getattr(self, name) <= 0:
                msg = f"{name} must be > 0, got {getattr(self, name)!r}"
                raise ValueError(msg)
        for name in (*at_least_zero, "covariance_budget"):
            if getattr(self, name) < 0:
                msg = f"{name} must be >= 0, got {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.eb_every < 1 or self.min_precision > self.max_precision:
            msg = "eb_every must be >= 1 and min_precision <= max_precision"
            raise ValueError(msg)

    @classmethod
    def from_mapping(cls, doc: dict[str, Any]) -> LearningConfig:
        """Build from a catalog's `learning:` mapping (unknown keys raise KeyError)."""
        names = {f.name for f in fields(cls)}
        for k in doc:
            if k not in names:
                raise KeyError(k)
        return cls(**doc)
