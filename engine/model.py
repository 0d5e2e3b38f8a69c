"""The response model: one hierarchical Bayesian logistic regression over every treatment.

A treatment's logit is a sum of parts, each a row of a weight block over the customer
vector `x`, plus a shared linear part over the treatment's attributes and the customer ×
action crosses (`engine.crosses`):

    logit(t) = Σ_b  w_b[row_b(t)] · x  +  w_s · [1, attributes(t), crosses(t, customer)]

with blocks `channel`, `kind`, `category`, `action` and `treatment`, so a new email offer
starts from what email, its kind and its category have taught, and only its own residual
has to be learned (each treatment shrunk toward the shared model, as Vowpal Wabbit's
`cb_explore_adf` shares through interactions). Every weight has a Gaussian posterior with
diagonal precision `tau_b + h` (Laplace; `h` accumulates `p(1-p) z²`); an example moves the
mean by the damped step of assumed-density filtering, `Δ = (y - p) / (1 + p(1-p) s)` with
`s` the logit's posterior variance, which needs no learning rate and cannot overshoot. Each
block's prior precision `tau_b` starts from `learning.prior_logit_sd` and is re-estimated from
the data every `learning.eb_every` examples (EM for a Gaussian prior's variance: empirical
Bayes), so no prior is tuned to one world.

Rows are keyed by stable names (treatment `action@channel`, action ids, channel names,
category ids, feature names), so a model resumed under a changed catalog keeps what still
matches, drops what was removed and starts new rows at the prior (`bind`).

`ValueModel` learns each action's value per response from the conversions its outcomes
declare (a property such as revenue), shrunk toward the declared `value`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from engine.catalog import Catalog
from engine.crosses import CrossSpace
from engine.learning_config import LearningConfig

__all__ = ["BLOCKS", "ResponseModel", "ValueModel"]

log = logging.getLogger(__name__)

BLOCKS = ("channel", "kind", "category", "action", "treatment")
_NO_CATEGORY = "<none>"


@dataclass(slots=True)
class _Block:
    """A named weight matrix (rows × columns) with curvature and one prior precision."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    w: np.ndarray
    h: np.ndarray
    tau: float

    @classmethod
    def zeros(cls, rows: tuple[str, ...], cols: tuple[str, ...], tau: float) -> _Block:
        shape = (len(rows), len(cols))
        return cls(rows, cols, np.zeros(shape), np.zeros(shape), tau)

    def remap(self, rows: tuple[str, ...], cols: tuple[str, ...]) -> tuple[_Block, int, int]:
        """This block over new row/column names: kept where names match, prior elsewhere.
        Returns (block, rows kept, rows dropped)."""
        if rows == self.rows and cols == self.cols:
            return self, len(rows), 0
        out = _Block.zeros(rows, cols, self.tau)
        old_r = {r: i for i, r in enumerate(self.rows)}
        old_c = {c: j for j, c in enumerate(self.cols)}
        ri = [(i, old_r[r]) for i, r in enumerate(rows) if r in old_r]
        cj = [(j, old_c[c]) for j, c in enumerate(cols) if c in old_c]
        if ri and cj:
            new_i, src_i = map(list, zip(*ri, strict=True))
            new_j, src_j = map(list, zip(*cj, strict=True))
            out.w[np.ix_(new_i, new_j)] = self.w[np.ix_(src_i, src_j)]
            out.h[np.ix_(new_i, new_j)] = self.h[np.ix_(src_i, src_j)]
        return out, len(ri), len(self.rows) - len(ri)

    def empirical_bayes(self, lo: float, hi: float) -> None:
        """Re-estimate the prior precision from the posteriors of the weights with data."""
        seen = self.h > 0
        m = int(seen.sum())
        if m < 8:
            return
        var = (self.w[seen] ** 2 + 1.0 / (self.tau + self.h[seen])).sum()
        self.tau = float(min(max(m / var, lo), hi))


@dataclass(slots=True)
class ResponseModel:
    """P(response | customer, treatment); see the module docstring."""

    config: LearningConfig = field(default_factory=LearningConfig)
    blocks: dict[str, _Block] = field(default_factory=dict)
    shared: _Block | None = None
    n: int = 0
    positives: int = 0
    _index: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _attributes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    _n_attr: int = 0

    # ----------------------------------------------------------------- binding

    def bind(self, catalog: Catalog, crosses: CrossSpace, x_hint: float = 8.0) -> None:
        """Attach to a catalog: row indices per treatment; remap rows by stable name.

        `x_hint` is the squared norm of a typical customer vector, used for the initial
        prior precisions until data arrives (`prior_logit_sd` split over the blocks).
        """
        self.config = catalog.learning
        world = catalog.world
        cols = catalog.features.names
        nb = len(BLOCKS) + 1
        tau0 = nb * max(x_hint, 1.0) / self.config.prior_logit_sd ** 2
        cats = (*(world.category_id(i) or "" for i in range(world.n_categories)), _NO_CATEGORY)
        rows = {
            "channel": world.channels,
            "kind": world.kinds,
            "category": cats,
            "action": tuple(a.id for a in catalog.actions),
            "treatment": tuple(catalog.treatment_id(t) for t in range(catalog.n_treatments)),
        }
        kept, dropped = 0, 0
        for name in BLOCKS:
            old = self.blocks.get(name)
            if old is None:
                self.blocks[name] = _Block.zeros(rows[name], cols, tau0)
            else:
                self.blocks[name], k, d = old.remap(rows[name], cols)
                if name == "treatment":
                    kept, dropped = k, d
        shared_cols = ("intercept", *(f"attr:{a}" for a in crosses.attribute_names),
                       *(f"cross:{c}" for c in crosses.names))
        if self.shared is None:
            self.shared = _Block.zeros(("all",), shared_cols, tau0)
        else:
            self.shared, _, _ = self.shared.remap(("all",), shared_cols)
        if self.n and dropped:
            log.warning("catalog changed: %d treatments kept their learned rows, %d removed "
                        "were dropped, %d new start at the prior", kept, dropped,
                        catalog.n_treatments - kept)
        none = world.n_categories
        self._index = {
            "channel": crosses.t_channel,
            "kind": crosses.t_kind,
            "category": np.where(crosses.t_category < none, crosses.t_category, none),
            "action": crosses.t_action,
            "treatment": np.arange(catalog.n_treatments),
        }
        self._attributes = crosses.attributes.astype(np.float64)
        self._n_attr = len(crosses.attribute_names)

    # ----------------------------------------------------------------- learning

    def _shared_input(self, t: int, c: np.ndarray) -> np.ndarray:
        return np.concatenate(([1.0], self._attributes[t], c.astype(np.float64)))

    def logit(self, t: int, x: np.ndarray, c: np.ndarray) -> float:
        """The posterior-mean logit of treatment `t` for vector `x` and cross row `c`."""
        assert self.shared is not None
        xf = x.astype(np.float64)
        lg = sum(float(b.w[self._index[name][t]] @ xf) for name, b in self.blocks.items())
        return lg + float(self.shared.w[0] @ self._shared_input(t, c))

    def predict_proba_one(self, t: int, x: np.ndarray, c: np.ndarray) -> float:
        """P(response) under the posterior mean."""
        return 1.0 / (1.0 + math.exp(-self.logit(t, x, c)))

    def learn_one(self, t: int, x: np.ndarray, c: np.ndarray, y: bool) -> None:
        """One labelled decision of treatment `t` (x and c are never mutated)."""
        assert self.shared is not None
        xf = x.astype(np.float64)
        x2 = xf * xf
        z = self._shared_input(t, c)
        z2 = z * z
        parts = [(b, int(self._index[name][t])) for name, b in self.blocks.items()]
        sb = self.shared
        lg = sum(float(b.w[r] @ xf) for b, r in parts) + float(sb.w[0] @ z)
        s = sum(float(x2 @ (1.0 / (b.tau + b.h[r]))) for b, r in parts)
        s += float(z2 @ (1.0 / (sb.tau + sb.h[0])))
        p = 1.0 / (1.0 + math.exp(-max(min(lg, 30.0), -30.0)))
        g2 = p * (1.0 - p)
        delta = (float(y) - p) / (1.0 + g2 * s)
        for b, r in parts:
            b.w[r] += delta * xf / (b.tau + b.h[r])
            b.h[r] += g2 * x2
        sb.w[0] += delta * z / (sb.tau + sb.h[0])
        sb.h[0] += g2 * z2
        self.n += 1
        self.positives += int(bool(y))
        if self.n % self.config.eb_every == 0:
            self.empirical_bayes()

    def empirical_bayes(self) -> None:
        """Re-estimate every block's prior precision (see `_Block.empirical_bayes`), after
        fading old evidence when `learning.memory` is set."""
        cfg = self.config
        assert self.shared is not None
        blocks = [*self.blocks.values(), self.shared]
        if cfg.memory > 0:
            fade = math.exp(-cfg.eb_every / cfg.memory)
            for b in blocks:
                b.h *= fade
        for b in blocks:
            b.empirical_bayes(cfg.min_precision, cfg.max_precision)

    # ----------------------------------------------------------------- export

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense rows for the kernel: (W, b, V, cross weights, cross variances).

        `W[t] · x + b[t] + cross_w · crosses[t]` is the logit; `V[t] · x²` plus
        `cross_v · crosses[t]²` its variance (x[0] is the constant 1, so the intercept's and
        the attributes' variance sit in `V[:, 0]`).
        """
        assert self.shared is not None
        W = sum(b.w[self._index[name]] for name, b in self.blocks.items())
        V = sum(1.0 / (b.tau + b.h[self._index[name]]) for name, b in self.blocks.items())
        sb = self.shared
        v_s = 1.0 / (sb.tau + sb.h[0])
        na = self._n_attr
        A = self._attributes
        b = sb.w[0, 0] + A @ sb.w[0, 1 : 1 + na]
        V[:, 0] += v_s[0] + (A * A) @ v_s[1 : 1 + na]
        return (np.asarray(W, dtype=np.float32), b.astype(np.float32),
                np.asarray(V, dtype=np.float32), sb.w[0, 1 + na :].astype(np.float32),
                v_s[1 + na :].astype(np.float32))


@dataclass(slots=True)
class ValueModel:
    """Each action's value per response: declared `value` as a prior, conversions as data.

    Keyed by action id. Actions whose outcomes declare no conversion keep their value.
    """

    prior_weight: float = 5.0
    sums: dict[str, tuple[float, float]] = field(default_factory=dict)

    def learn_one(self, action_id: str, value: float) -> None:
        """One responded decision's realized value (0 when nothing converted)."""
        n, total = self.sums.get(action_id, (0.0, 0.0))
        self.sums[action_id] = (n + 1.0, total + value)

    def value_of(self, action_id: str, declared: float) -> float:
        """Posterior-mean value per response."""
        n, total = self.sums.get(action_id, (0.0, 0.0))
        k = self.prior_weight
        return (k * declared + total) / (k + n)
