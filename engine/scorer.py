"""The scorer: catalog arrays + learned weights, calling the numba kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import kernels
from engine.catalog import Catalog, load_catalog
from engine.crosses import CrossSpace
from engine.model import ResponseModel, ValueModel

__all__ = ["ScoreResult", "Scorer", "WeightBoard"]


class WeightBoard:
    """Dense rows the kernel reads, published from the response and value models.

    `W, b, V` are the per-treatment parts over the customer vector; `cross_w`/`cross_v` the
    shared weights (and variances) of the customer × action crosses; `value` each treatment's
    learned value per response; `S` a copy of the full-covariance blocks (only the rows that
    changed are copied at a publish, in place), `diag` and `prior` copies of the diagonal
    blocks' variances and every block's prior (`ResponseModel.variance_parts`). The kernels
    hold the GIL, so a publish between two kernel calls is seen whole; `S` is read before the
    kernel call, so with several worker threads one decision may see a row mid-copy (the two
    differ by a few rank-one updates: its exploration variance is off by as much, never
    negative).
    """

    def __init__(self, catalog: Catalog, model: ResponseModel, values: ValueModel) -> None:
        self.catalog = catalog
        self.version = 0
        self.model = model
        self.S: dict[str, np.ndarray] = {}
        self._action_ids = [a.id for a in catalog.actions]
        self._declared = np.array([a.value for a in catalog.actions], dtype=np.float64)
        self.publish(model, values, count=False)

    def _copy_covariances(self, model: ResponseModel) -> None:
        blocks = {**model.blocks, "shared": model.shared}
        fresh: dict[str, np.ndarray] = {}
        for name, cov in model.covariances().items():
            block = blocks[name]
            mine = self.S.get(name)
            if model is not self.model or mine is None or mine.shape != cov.shape:
                fresh[name] = cov.astype(np.float32)  # for sampling: half the bytes to read
            else:
                rows = sorted(block.dirty)
                mine[rows] = cov[rows]
                fresh[name] = mine
            block.dirty.clear()
        self.S, self.model = fresh, model

    def publish(self, model: ResponseModel, values: ValueModel, *, count: bool = True) -> None:
        """Copy the models' current rows in; bump the model version."""
        self._copy_covariances(model)
        self.diag, self.prior = model.variance_parts()
        W, b, V, cw, cv = model.export()
        self.W, self.b, self.V, self.cross_w, self.cross_v = W, b, V, cw, cv
        self.vmax = V.max(axis=1)
        cat = self.catalog
        self.value = np.array(
            [
                values.value_of(cat.actions[int(a)].id, float(cat.value[t]))
                for t, a in enumerate(cat.t_action)
            ],
            dtype=np.float32,
        )
        if count:
            self.version += 1


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

    def __init__(
        self,
        catalog: Catalog,
        board: WeightBoard,
        *,
        n_draws: int = 32,
        top_k: int = 3,
        python: bool = False,
    ) -> None:
        self.catalog = catalog
        self.board = board
        self.n_draws = n_draws
        self.top_k = top_k
        self._one = kernels.score_one_py if python else kernels.score_one
        self._batch = kernels.score_batch_py if python else kernels.score_batch

    def offsets(self, x: np.ndarray, crosses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The crosses' share of each treatment's logit, and the logit variance the kernel
        does not compute from `V` (the crosses' diagonal part, a full shared part's, and the
        block parts' as one sum)."""
        w = self.board
        var = ((crosses * crosses) @ w.cross_v
               + np.maximum(w.model.shared_variance(w.S, crosses), 0.0)
               + w.model.block_variance(w.S, w.diag, w.prior, x))
        return (crosses @ w.cross_w).astype(np.float32), var.astype(np.float32)

    def _catalog_args(self, off: np.ndarray, off_var: np.ndarray) -> tuple[np.ndarray, ...]:
        c, w = self.catalog, self.board
        return (
            w.W,
            w.b,
            w.V,
            w.vmax,
            off,
            off_var,
            w.value,
            c.lever,
            c.cost,
            c.t_channel,
            c.t_action,
            c.stage_mask,
            c.trigger_mask,
            c.pred_ptr,
            c.pred_feat,
            c.pred_op,
            c.pred_val,
            c.cw_ptr,
            c.cw_feat,
            c.cw_op,
            c.cw_val,
            c.cw_group,
            c.cw_weight,
        )

    def score(
        self,
        x: np.ndarray,
        rule: np.ndarray,
        crosses: np.ndarray,
        channel_ok: np.ndarray,
        action_ok: np.ndarray,
        treatment_ok: np.ndarray,
        budget_left: np.ndarray,
        stage: int,
        trigger: str,
        seed: int,
    ) -> ScoreResult:
        """One decision: pick a treatment, its probability, statuses and the top-k."""
        n = self.catalog.n_treatments
        status = np.empty(n, dtype=np.int8)
        topk = np.empty(self.top_k, dtype=np.int64)
        topk_score = np.empty(self.top_k, dtype=np.float64)
        off, off_var = self.offsets(x, crosses)
        chosen, prob = self._one(
            x,
            rule,
            *self._catalog_args(off, off_var),
            channel_ok,
            action_ok,
            treatment_ok,
            budget_left,
            np.int32(1 << stage),
            np.int32(self.catalog.trigger_bit(trigger)),
            np.uint64(seed),
            self.n_draws,
            status,
            topk,
            topk_score,
        )
        return ScoreResult(int(chosen), float(prob), status, topk, topk_score)

    def score_batch(
        self,
        X: np.ndarray,
        R: np.ndarray,
        crosses: np.ndarray,
        channel_ok: np.ndarray,
        action_ok: np.ndarray,
        treatment_ok: np.ndarray,
        budget_left: np.ndarray,
        stages: np.ndarray,
        triggers: list[str],
        seeds: np.ndarray,
    ) -> list[ScoreResult]:
        """Many decisions in one call (one GEMM for the logits, then per-row arbitration).
        `crosses` is (decisions × treatments × crosses)."""
        nb, n = X.shape[0], self.catalog.n_treatments
        status = np.empty((nb, n), dtype=np.int8)
        topk = np.empty((nb, self.top_k), dtype=np.int64)
        topk_score = np.empty((nb, self.top_k), dtype=np.float64)
        chosen = np.empty(nb, dtype=np.int64)
        prob = np.empty(nb, dtype=np.float64)
        pairs = [self.offsets(X[r], crosses[r]) for r in range(nb)]
        off = np.stack([p[0] for p in pairs])
        off_var = np.stack([p[1] for p in pairs])
        stage_bit = (1 << stages.astype(np.int32)).astype(np.int32)
        trigger_bit = np.array([self.catalog.trigger_bit(t) for t in triggers], dtype=np.int32)
        self._batch(
            X,
            R,
            *self._catalog_args(off, off_var),
            channel_ok,
            action_ok,
            treatment_ok,
            budget_left,
            stage_bit,
            trigger_bit,
            seeds.astype(np.uint64),
            self.n_draws,
            status,
            topk,
            topk_score,
            chosen,
            prob,
        )
        return [
            ScoreResult(int(chosen[r]), float(prob[r]), status[r], topk[r], topk_score[r])
            for r in range(nb)
        ]

    @staticmethod
    def warm_up(catalog: Catalog | None = None) -> None:
        """Compile (or load cached) kernels with the argument types used at run time."""
        cat = catalog or load_catalog()
        crosses = CrossSpace(cat)
        model = ResponseModel()
        model.bind(cat, crosses)
        scorer = Scorer(cat, WeightBoard(cat, model, ValueModel()))
        x = np.zeros(cat.features.size, dtype=np.float32)
        r = np.zeros(cat.rules.size, dtype=np.float32)
        c = np.zeros((cat.n_treatments, len(crosses.names)), dtype=np.float32)
        ch = np.ones(len(cat.world.channels), dtype=np.uint8)
        act = np.ones(len(cat.actions), dtype=np.uint8)
        tok = np.ones(cat.n_treatments, dtype=np.uint8)
        budget = np.full(len(cat.actions), 10, dtype=np.int64)
        scorer.score(x, r, c, ch, act, tok, budget, 0, "request", 1)
        scorer.score_batch(
            x[None, :],
            r[None, :],
            c[None, :, :],
            ch[None, :],
            act[None, :],
            tok[None, :],
            budget,
            np.zeros(1, dtype=np.int64),
            ["request"],
            np.ones(1, dtype=np.uint64),
        )
