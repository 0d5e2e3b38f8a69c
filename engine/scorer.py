"""The scorer: catalog arrays + learned weights, calling the numba kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import kernels
from engine.catalog import TRIGGERS, Catalog, load_catalog
from engine.learners import ActionLearner
from features.rules import RULE_NAMES
from features.schema import CHANNELS
from features.vector import N_FEATURES

__all__ = ["ScoreResult", "Scorer", "WeightBoard"]


class WeightBoard:
    """Dense (W, b, V) treatment rows the kernel reads; learners publish into it in place.

    The kernels hold the GIL, so a publish between two kernel calls is seen whole.
    """

    def __init__(self, catalog: Catalog) -> None:
        n = catalog.n_treatments
        self.W = np.zeros((n, N_FEATURES), dtype=np.float32)
        self.b = np.zeros(n, dtype=np.float32)
        self.V = np.zeros((n, N_FEATURES), dtype=np.float32)
        self.vmax = np.zeros(n, dtype=np.float32)  # per-row bound: sd(logit) <= sqrt(vmax·|x|²)
        self.version = 0
        prior = ActionLearner()
        for t in range(n):
            self._write(t, prior)

    def _write(self, t: int, learner: ActionLearner) -> None:
        self.W[t], self.b[t], self.V[t] = learner.export()
        self.vmax[t] = self.V[t].max()

    def publish(self, treatment: int, learner: ActionLearner) -> None:
        """Copy one treatment's learned row in and bump the model version."""
        self._write(treatment, learner)
        self.version += 1

    def restore(self, treatment: int, learner: ActionLearner) -> None:
        """Copy a resumed learner's row in; the version counts the updates it had seen."""
        self._write(treatment, learner)
        self.version += learner.n


@dataclass(slots=True)
class ScoreResult:
    """Kernel output for one decision."""

    chosen: int
    probability: float
    status: np.ndarray
    topk: np.ndarray
    topk_score: np.ndarray


class Scorer:
    """Scores every treatment of a catalog in one kernel call."""

    def __init__(self, catalog: Catalog, board: WeightBoard, *, n_draws: int = 32,
                 top_k: int = 3, python: bool = False) -> None:
        self.catalog = catalog
        self.board = board
        self.n_draws = n_draws
        self.top_k = top_k
        self._one = kernels.score_one_py if python else kernels.score_one
        self._batch = kernels.score_batch_py if python else kernels.score_batch

    def _catalog_args(self) -> tuple[np.ndarray, ...]:
        c, w = self.catalog, self.board
        return (w.W, w.b, w.V, w.vmax, c.value, c.lever, c.cost, c.t_channel, c.t_action,
                c.stage_mask, c.trigger_mask, c.pred_ptr, c.pred_feat, c.pred_op, c.pred_val,
                c.cw_ptr, c.cw_feat, c.cw_op, c.cw_val, c.cw_group, c.cw_weight)

    def score(self, x: np.ndarray, rule: np.ndarray, channel_ok: np.ndarray,
              action_ok: np.ndarray, budget_left: np.ndarray, stage: int, trigger: str,
              seed: int) -> ScoreResult:
        """One decision: pick a treatment, its probability, statuses and the top-k."""
        n = self.catalog.n_treatments
        status = np.empty(n, dtype=np.int8)
        topk = np.empty(self.top_k, dtype=np.int64)
        topk_score = np.empty(self.top_k, dtype=np.float64)
        chosen, prob = self._one(
            x, rule, *self._catalog_args(), channel_ok, action_ok, budget_left,
            np.int32(1 << stage), np.int32(1 << TRIGGERS.index(trigger)),
            np.uint64(seed), self.n_draws, status, topk, topk_score)
        return ScoreResult(int(chosen), float(prob), status, topk, topk_score)

    def score_batch(self, X: np.ndarray, R: np.ndarray, channel_ok: np.ndarray,
                    action_ok: np.ndarray, budget_left: np.ndarray, stages: np.ndarray,
                    triggers: list[str], seeds: np.ndarray) -> list[ScoreResult]:
        """Many decisions in one call (two GEMMs, then per-row arbitration)."""
        nb, n = X.shape[0], self.catalog.n_treatments
        status = np.empty((nb, n), dtype=np.int8)
        topk = np.empty((nb, self.top_k), dtype=np.int64)
        topk_score = np.empty((nb, self.top_k), dtype=np.float64)
        chosen = np.empty(nb, dtype=np.int64)
        prob = np.empty(nb, dtype=np.float64)
        stage_bit = (1 << stages.astype(np.int32)).astype(np.int32)
        trigger_bit = np.array([1 << TRIGGERS.index(t) for t in triggers], dtype=np.int32)
        self._batch(X, R, *self._catalog_args(), channel_ok, action_ok, budget_left, stage_bit,
                    trigger_bit, seeds.astype(np.uint64), self.n_draws, status, topk, topk_score,
                    chosen, prob)
        return [ScoreResult(int(chosen[r]), float(prob[r]), status[r], topk[r], topk_score[r])
                for r in range(nb)]

    @staticmethod
    def warm_up(catalog: Catalog | None = None) -> None:
        """Compile (or load cached) kernels with the argument types used at run time."""
        cat = catalog or load_catalog()
        scorer = Scorer(cat, WeightBoard(cat))
        x = np.zeros(N_FEATURES, dtype=np.float32)
        r = np.zeros(len(RULE_NAMES), dtype=np.float32)
        ch = np.ones(len(CHANNELS), dtype=np.uint8)
        act = np.ones(len(cat.actions), dtype=np.uint8)
        budget = np.full(len(cat.actions), 10, dtype=np.int64)
        scorer.score(x, r, ch, act, budget, 0, "request", 1)
        scorer.score_batch(x[None, :], r[None, :], ch[None, :], act[None, :], budget,
                           np.zeros(1, dtype=np.int64), ["request"], np.ones(1, dtype=np.uint64))
