"""Applying training examples to learners and publishing their weights."""

from __future__ import annotations

import numpy as np

from engine import metrics
from engine.core import Example
from engine.learners import ActionLearner, RepurchaseLearner, as_features
from engine.scorer import WeightBoard

__all__ = ["learn_action", "learn_repurchase"]


def learn_action(learner: ActionLearner, example: Example, board: WeightBoard) -> None:
    """One outcome into its treatment's learner; the treatment's row is republished."""
    learner.learn_one(as_features(example.x), example.y)
    board.publish(example.treatment, learner)
    metrics.learner_updates_by("propensity").inc()
    metrics.MODEL_VERSION.set(board.version)


def learn_repurchase(learner: RepurchaseLearner, x: np.ndarray, y: bool) -> None:
    """One resolved repurchase label."""
    learner.learn_one(as_features(x), y)
    metrics.learner_updates_by("repurchase").inc()
