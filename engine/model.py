"""The response model: one hierarchical Bayesian logistic regression over every treatment.

A treatment's logit is a sum of parts, each a row of a weight block over the customer
vector `x`, plus a shared linear part over the treatment's attributes and the customer ×
action crosses (`engine.crosses`):

    logit(t) = Σ_b  w_b[row_b(t)] · x  +  w_s · [1, attributes(t), crosses(t, customer)]

with blocks `channel`, `kind`, `category`, `action` and `treatment`, so a new email offer
starts from what email, its kind and its category have taught, and only its own residual
has to be learned (each treatment shrunk toward the shared model, as Vowpal Wabbit's
`cb_explore_adf` shares through interactions). A block that puts the treatments in the
same rows as a more specific one (a catalog whose every action has one channel: `action`
and `treatment`) is left out. Every row of a block has a Gaussian posterior
(Laplace): a full covariance `S = (diag(tau_b) + H)⁻¹`, `H` accumulating `p(1-p) z zᵀ`
(Sherman–Morrison per example), for the blocks that fit `learning.covariance_budget`, else
the diagonal `1 / (tau_b + h)`. The logit's variance `s` counts each example once
(`_sum_variance`): a treatment's own examples reach every block it has a row in, so the sum
of the blocks' variances would count them once per block (a well-observed treatment with K
parts would look up to K times as uncertain as it is, be explored as if it were, and move
K times too far at each example); the variance of the sum takes that evidence out of the
other blocks, adds their variances to the treatment row's prior, and adds it back once. An
example moves each row's mean by `Δ ρ S z` (the shared part's by `Δ S z`), the damped step
of assumed-density filtering `Δ = (y - p) / (1 + p(1-p) s)`, which needs no learning rate
and cannot overshoot, `ρ` the block parts' variance as one sum over their variances added,
so together they move the logit as one model of the sum would. Each block's prior
precisions `tau_b` (one per feature column) start from
`learning.prior_logit_sd` and are re-estimated from the data every `learning.eb_every`
examples (EM for a Gaussian prior's variance, per column: empirical Bayes with automatic
relevance determination, each column's estimate pooled toward the block's by
`learning.column_prior_weight` pseudo-rows), so no prior is tuned to one world and a
feature that matters for a block is shrunk less than the many that do not.

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


def _full_blocks(shapes: dict[str, tuple[int, int]], budget: int) -> set[str]:
    """The blocks that keep a full covariance: every one whose rows × columns² floats fit
    in what `budget` has left, taken from the most shared (fewest rows) to the least."""
    full: set[str] = set()
    left = budget
    for name, (rows, cols) in sorted(shapes.items(), key=lambda kv: kv[1][0]):
        need = rows * cols * cols
        if need <= left:
            full.add(name)
            left -= need
    return full


def _distinct_blocks(index: dict[str, np.ndarray]) -> dict[str, str]:
    """For each block, the last block in `BLOCKS` order (the most specific) that groups the
    treatments into the same rows: where a catalog gives every action one channel, `action`
    and `treatment` coincide, and a second copy of the same part would only add its prior
    and its variance to every logit twice (more exploration and a looser prior than
    `prior_logit_sd` says). `treatment` is always its own."""
    owner: dict[str, str] = {}
    by_grouping: dict[tuple[int, ...], str] = {}
    for name in reversed(BLOCKS):
        first: dict[int, int] = {}
        grouping = tuple(first.setdefault(int(r), len(first)) for r in index[name])
        owner[name] = by_grouping.setdefault(grouping, name)
    return owner


def _sum_variance(parts: dict[str, np.ndarray], priors: dict[str, float]) -> np.ndarray:
    """The variance of a sum of block parts along one input, from each part's posterior
    variance `parts[b]` (per treatment) and prior variance `priors[b]` along it.

    Every example of a treatment updated each of its parts, so each part's variance holds
    that treatment's own evidence: `δ = 1/parts["treatment"] - 1/priors["treatment"]`, the
    treatment row's data precision along the input (that row sees only its own examples).
    Taking δ out of each other part (its precision less δ, never below its prior's) leaves
    what the other treatments taught it; those variances plus the treatment row's prior are
    the sum's variance before the treatment's own examples, which then add δ once:
    `1 / (1 / (prior_t + Σ_b 1 / (1/parts[b] - δ)) + δ)`. With no own evidence this is the
    plain sum; with parts that saw nothing else it is the variance of one model of the
    sum, not K times it.
    """
    def inv(v: np.ndarray | float) -> np.ndarray:  # an input with no variance: none added
        return 1.0 / np.maximum(v, 1e-30)

    delta = np.maximum(inv(parts["treatment"]) - inv(priors["treatment"]), 0.0)
    before = np.full_like(delta, priors["treatment"])
    for name, var in parts.items():
        if name != "treatment":
            before += 1.0 / np.maximum(inv(var) - delta, inv(priors[name]))
    return inv(inv(before) + delta)


@dataclass(slots=True)
class _Block:
    """A named weight matrix (rows × columns) with its posterior and one prior precision per
    column (`tau`, shared by the block's rows).

    `h` accumulates each weight's data precision (the diagonal of the Laplace Hessian). A
    block with `S` (rows × columns × columns) keeps each row's full posterior covariance
    too, updated by Sherman–Morrison at every example, so correlated features (most of the
    customer vector) are learned at the rate of a second-order method; without it the
    posterior is diagonal, `1 / (tau + h)` (`learning.covariance_budget` decides which).
    """

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    w: np.ndarray
    h: np.ndarray
    tau: np.ndarray
    S: np.ndarray | None = None
    dirty: set[int] = field(default_factory=set)
    """Rows whose `S` changed since the weight board last copied them."""

    @classmethod
    def zeros(cls, rows: tuple[str, ...], cols: tuple[str, ...], tau: float | np.ndarray, *,
              full: bool = False) -> _Block:
        shape = (len(rows), len(cols))
        taus = np.broadcast_to(np.asarray(tau, dtype=np.float64), (len(cols),)).copy()
        S = (np.broadcast_to(np.diag(1.0 / taus), (len(rows), len(cols), len(cols))).copy()
             if full else None)
        return cls(rows, cols, np.zeros(shape), np.zeros(shape), taus, S, set(range(len(rows))))

    def __getstate__(self) -> tuple[object, ...]:
        return (self.rows, self.cols, self.w, self.h, self.tau, self.S, self.dirty)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        # a snapshot from before full covariances holds the first five fields: diagonal,
        # and `bind` gives it a covariance if its block now keeps one; one from before
        # per-column priors holds one float `tau`, which every column starts from
        rows, cols, w, h, tau, *rest = state
        S = rest[0] if rest else None
        dirty = rest[1] if len(rest) > 1 else set()
        tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), (len(cols),)).copy()
        for name, value in (("rows", rows), ("cols", cols), ("w", w), ("h", h), ("tau", tau),
                            ("S", S), ("dirty", dirty)):
            object.__setattr__(self, name, value)

    @property
    def full(self) -> bool:
        """Whether this block keeps each row's full posterior covariance."""
        return self.S is not None

    def remap(self, rows: tuple[str, ...], cols: tuple[str, ...], *,
              full: bool) -> tuple[_Block, int, int]:
        """This block over new row/column names: kept where names match, prior elsewhere
        (a kept row keeps its covariance over the kept columns: their marginal).
        Returns (block, rows kept, rows dropped)."""
        if rows == self.rows and cols == self.cols and full == self.full:
            return self, len(rows), 0
        old_r = {r: i for i, r in enumerate(self.rows)}
        old_c = {c: j for j, c in enumerate(self.cols)}
        ri = [(i, old_r[r]) for i, r in enumerate(rows) if r in old_r]
        cj = [(j, old_c[c]) for j, c in enumerate(cols) if c in old_c]
        # kept columns keep their prior; new ones start from the block's pooled precision
        tau = np.full(len(cols), len(self.tau) / float(np.sum(1.0 / self.tau)))
        for j, k in cj:
            tau[j] = self.tau[k]
        out = _Block.zeros(rows, cols, tau, full=full)
        if ri and cj:
            new_i, src_i = map(list, zip(*ri, strict=True))
            new_j, src_j = map(list, zip(*cj, strict=True))
            out.w[np.ix_(new_i, new_j)] = self.w[np.ix_(src_i, src_j)]
            out.h[np.ix_(new_i, new_j)] = self.h[np.ix_(src_i, src_j)]
            if out.S is not None:
                for i, k in zip(new_i, src_i, strict=True):
                    if self.S is not None:
                        out.S[i][np.ix_(new_j, new_j)] = self.S[k][np.ix_(src_j, src_j)]
                    else:
                        out.S[i][new_j, new_j] = 1.0 / (self.tau[src_j] + self.h[k, src_j])
        return out, len(ri), len(self.rows) - len(ri)

    def absorb(self, other: _Block, mine: np.ndarray, theirs: np.ndarray) -> None:
        """Add `other`'s rows into this block's (`mine[t]` and `theirs[t]`: each
        treatment's row in either), both over the same columns: every logit keeps its mean;
        a diagonal row's variance becomes the sum of both parts', a full row keeps its own
        covariance (adding another's would leave `S⁻¹ - diag(tau)` no longer a data
        precision that a prior re-estimate can re-invert)."""
        pairs = sorted({(int(a), int(b)) for a, b in zip(mine, theirs, strict=True)})
        var = other.variance()
        for r, k in pairs:
            self.w[r] += other.w[k]
            if self.S is None:
                total = 1.0 / (self.tau + self.h[r]) + var[k]
                self.h[r] = np.maximum(1.0 / total - self.tau, 0.0)
            self.dirty.add(r)

    def variance(self) -> np.ndarray:
        """Each weight's posterior variance (rows × columns)."""
        if self.S is not None:
            return np.diagonal(self.S, axis1=1, axis2=2)
        return 1.0 / (self.tau + self.h)

    def gain(self, r: int, v: np.ndarray) -> np.ndarray:
        """Row `r`'s posterior covariance times input `v` (the direction an example moves
        the row; `v · gain` is the row's logit variance)."""
        if self.S is not None:
            return self.S[r] @ v
        return v / (self.tau + self.h[r])

    def update(self, r: int, v: np.ndarray, gain: np.ndarray, g2: float, delta: float) -> None:
        """Move row `r` by `delta` along its gain; add the example's curvature `g2 v vᵀ`."""
        self.w[r] += delta * gain
        self.h[r] += g2 * v * v
        if self.S is not None:
            self.S[r] -= (g2 / (1.0 + g2 * float(v @ gain))) * np.outer(gain, gain)
            self.dirty.add(r)

    def _reprior(self, tau: np.ndarray, fade: float = 1.0) -> None:
        """A full block's covariance under prior precisions `tau` (per column) and data
        precision scaled by `fade`: `S = (diag(tau) + fade (S_old⁻¹ - diag(tau_old)))⁻¹`."""
        assert self.S is not None
        data = np.linalg.inv(self.S) - np.diag(self.tau)
        self.S = np.linalg.inv(np.diag(tau) + fade * (data + data.transpose(0, 2, 1)) / 2.0)
        self.dirty.update(range(len(self.rows)))

    def fade(self, factor: float) -> None:
        """Scale the data precision by `factor` (older evidence counts less)."""
        if self.S is not None:
            self._reprior(self.tau, factor)
        self.h *= factor

    def empirical_bayes(self, lo: float, hi: float, pseudo: float) -> None:
        """Re-estimate each column's prior precision from the posteriors of its weights with
        data (`E[w²]` over the block's rows: the EM step for a Gaussian prior's variance),
        pooled toward the whole block's estimate by `pseudo` rows."""
        seen = self.h > 0
        m = int(seen.sum())
        if m < 8:
            return
        second = np.where(seen, self.w ** 2 + self.variance(), 0.0)
        pooled = min(max(m / float(second.sum()), lo), hi)
        tau = np.clip((seen.sum(axis=0) + pseudo) / (second.sum(axis=0) + pseudo / pooled),
                      lo, hi)
        if self.S is not None and not np.array_equal(tau, self.tau):
            self._reprior(tau)
        self.tau = tau


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
        none = world.n_categories
        index = {
            "channel": crosses.t_channel,
            "kind": crosses.t_kind,
            "category": np.where(crosses.t_category < none, crosses.t_category, none),
            "action": crosses.t_action,
            "treatment": np.arange(catalog.n_treatments),
        }
        owner = _distinct_blocks(index)
        active = [name for name in BLOCKS if owner[name] == name]
        nb = len(active) + 1
        tau0 = nb * max(x_hint, 1.0) / self.config.prior_logit_sd ** 2
        cats = (*(world.category_id(i) or "" for i in range(world.n_categories)), _NO_CATEGORY)
        rows = {
            "channel": world.channels,
            "kind": world.kinds,
            "category": cats,
            "action": tuple(a.id for a in catalog.actions),
            "treatment": tuple(catalog.treatment_id(t) for t in range(catalog.n_treatments)),
        }
        shared_cols = ("intercept", *(f"attr:{a}" for a in crosses.attribute_names),
                       *(f"cross:{c}" for c in crosses.names))
        full = _full_blocks({**{n: (len(rows[n]), len(cols)) for n in active},
                             "shared": (1, len(shared_cols))}, self.config.covariance_budget)
        kept, dropped = 0, 0
        for name in reversed(BLOCKS):  # a block's owner comes after it in BLOCKS
            old = self.blocks.pop(name, None)
            if name not in active:
                # the same rows as a later block: one is enough, and what a snapshot's copy
                # learned joins it (a sum of two parts is one part)
                if old is not None:
                    into = self.blocks[owner[name]]
                    dup, _, _ = old.remap(rows[name], cols, full=into.full)
                    into.absorb(dup, index[owner[name]], index[name])
                continue
            if old is None:
                self.blocks[name] = _Block.zeros(rows[name], cols, tau0, full=name in full)
            else:
                self.blocks[name], k, d = old.remap(rows[name], cols, full=name in full)
                if name == "treatment":
                    kept, dropped = k, d
        self.blocks = {name: self.blocks[name] for name in active}  # in BLOCKS order
        if self.shared is None:
            self.shared = _Block.zeros(("all",), shared_cols, tau0, full="shared" in full)
        else:
            self.shared, _, _ = self.shared.remap(("all",), shared_cols,
                                                  full="shared" in full)
        if self.n and dropped:
            log.warning("catalog changed: %d treatments kept their learned rows, %d removed "
                        "were dropped, %d new start at the prior", kept, dropped,
                        catalog.n_treatments - kept)
        self._index = {name: index[name] for name in active}
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

    def logit_variance(self, t: int, x: np.ndarray, c: np.ndarray) -> float:
        """The posterior variance of treatment `t`'s logit for vector `x` and cross row `c`:
        its block parts' as one sum (`_sum_variance`), plus the shared part's (within a
        block, a row's full or diagonal covariance)."""
        assert self.shared is not None
        xf = x.astype(np.float64)
        z = self._shared_input(t, c)
        return self._one_sum([float(xf @ b.gain(int(self._index[name][t]), xf))
                              for name, b in self.blocks.items()], xf) + float(
            z @ self.shared.gain(0, z))

    def _one_sum(self, variances: list[float], x: np.ndarray) -> float:
        """One treatment's block parts' variance as one sum (`_sum_variance`), from each
        block's variance along `x`, in `self.blocks` order."""
        parts = {name: np.array([v]) for name, v in zip(self.blocks, variances, strict=True)}
        return float(_sum_variance(parts, self._priors(x))[0])

    def _priors(self, x: np.ndarray, prior: dict[str, np.ndarray] | None = None
                ) -> dict[str, float]:
        """Each block's prior variance along `x` (from `prior`, a copy, if given)."""
        x2 = x * x
        if prior is None:
            return {name: float(x2 @ (1.0 / b.tau)) for name, b in self.blocks.items()}
        return {name: float(x2 @ v) for name, v in prior.items()}

    def predict_proba_one(self, t: int, x: np.ndarray, c: np.ndarray) -> float:
        """P(response) under the posterior mean."""
        return 1.0 / (1.0 + math.exp(-self.logit(t, x, c)))

    def learn_one(self, t: int, x: np.ndarray, c: np.ndarray, y: bool) -> None:
        """One labelled decision of treatment `t` (x and c are never mutated)."""
        assert self.shared is not None
        xf = x.astype(np.float64)
        parts = [(b, int(self._index[name][t]), xf) for name, b in self.blocks.items()]
        parts.append((self.shared, 0, self._shared_input(t, c)))
        gains = [b.gain(r, v) for b, r, v in parts]
        lg = sum(float(b.w[r] @ v) for b, r, v in parts)
        each = [float(v @ g) for (_, _, v), g in zip(parts, gains, strict=True)]
        # the block parts move as one sum: by what its variance (not theirs added) allows
        added = sum(each[:-1])
        joint = self._one_sum(each[:-1], xf)
        share = joint / added if added > 0 else 1.0
        s = joint + each[-1]
        p = 1.0 / (1.0 + math.exp(-max(min(lg, 30.0), -30.0)))
        g2 = p * (1.0 - p)
        delta = (float(y) - p) / (1.0 + g2 * s)
        for i, ((b, r, v), g) in enumerate(zip(parts, gains, strict=True)):
            b.update(r, v, g, g2, delta * share if i < len(self.blocks) else delta)
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
                b.fade(fade)
        for b in blocks:
            b.empirical_bayes(cfg.min_precision, cfg.max_precision, cfg.column_prior_weight)

    # ----------------------------------------------------------------- export

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense rows for the kernel: (W, b, V, cross weights, cross variances).

        `W[t] · x + b[t] + cross_w · crosses[t]` is the logit; `V[t] · x²` plus
        `cross_v · crosses[t]²` the variance of a diagonal shared part (x[0] is the constant
        1, so the intercept's and the attributes' variance sit in `V[:, 0]`); a full shared
        part adds `shared_variance`, and the blocks' parts add `block_variance`.
        """
        assert self.shared is not None
        W = sum(b.w[self._index[name]] for name, b in self.blocks.items())
        V = np.zeros_like(W)
        sb = self.shared
        na = self._n_attr
        A = self._attributes
        b = sb.w[0, 0] + A @ sb.w[0, 1 : 1 + na]
        cross_v = np.zeros(len(sb.cols) - 1 - na)
        if not sb.full:
            v_s = 1.0 / (sb.tau + sb.h[0])
            V[:, 0] += v_s[0] + (A * A) @ v_s[1 : 1 + na]
            cross_v = v_s[1 + na :]
        return (np.asarray(W, dtype=np.float32), b.astype(np.float32),
                np.asarray(V, dtype=np.float32), sb.w[0, 1 + na :].astype(np.float32),
                cross_v.astype(np.float32))

    def covariances(self) -> dict[str, np.ndarray]:
        """The full-covariance blocks' `S` (by block name, `shared` included)."""
        assert self.shared is not None
        out = {name: b.S for name, b in self.blocks.items() if b.S is not None}
        if self.shared.S is not None:
            out["shared"] = self.shared.S
        return out

    def variance_parts(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """What `block_variance` reads besides the full covariances, for the weight board to
        copy: each diagonal block's weight variances (rows × columns) and every block's
        prior variance per column."""
        diag = {name: b.variance().copy() for name, b in self.blocks.items() if not b.full}
        return diag, {name: 1.0 / b.tau for name, b in self.blocks.items()}

    def block_variance(self, S: dict[str, np.ndarray], diag: dict[str, np.ndarray],
                       prior: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Per treatment, the variance of its block parts' logit for customer vector `x` as
        one sum (`_sum_variance`), from copies of `covariances()` (`S`) and of
        `variance_parts()` (`diag`, `prior`)."""
        xf = x.astype(np.float64)
        parts: dict[str, np.ndarray] = {}
        for name in self.blocks:
            if name in S:
                cov = S[name]
                k, d, _ = cov.shape
                v = xf.astype(cov.dtype)
                rows = (cov.reshape(k * d, d) @ v).reshape(k, d) @ v
            else:
                rows = diag[name] @ (xf * xf)
            parts[name] = np.asarray(rows, dtype=np.float64)[self._index[name]]
        return _sum_variance(parts, self._priors(xf, prior))

    def shared_variance(self, S: dict[str, np.ndarray], crosses: np.ndarray) -> np.ndarray:
        """Per treatment, the logit variance of a full-covariance shared part (`S["shared"]`,
        a copy of `covariances()`) for its cross rows; zeros when the shared part is
        diagonal (its variance is in `export`'s `V` and cross variances)."""
        n = crosses.shape[0]
        cov = S.get("shared")
        if cov is None:
            return np.zeros(n)
        Z = np.concatenate((np.ones((n, 1)), self._attributes,
                            crosses.astype(np.float64)), axis=1).astype(cov.dtype)
        return np.einsum("ti,ij,tj->t", Z, cov[0], Z)


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
