"""Repurchase and lifetime value, computed at read time from a customer's purchase summary.

A customer's history is its `PurchaseSummary` (order count, first and last order time,
revenue; timestamps in epoch seconds, as the core keeps them). `RepurchaseModel` answers
`predict(summary, now)` with a `RepurchaseEstimate`: P(at least one order within the
horizon), expected orders, P(alive) and expected value, for any horizon in days.

How it is computed:

* **BG/NBD** (`engine.bgnbd`) with population parameters fitted by maximum likelihood on a
  bounded sample of customers: a bottom-k sample by seeded BLAKE2b hash of the customer
  key (uniform over customers, deterministic, one entry per customer, mergeable across
  workers). Each sampled customer keeps its recent order times, so the sample is a true
  cross-section at refit time (x, t_x, T as of `now`).
* **Gamma-Gamma** on the same sample for the value of an order.
* **A learned correction**: an L2-penalised logistic regression (Newton, standardised
  features) over BG/NBD's log-odds and RFM terms (log 1+x, log 1+days since the last order,
  log 1+tenure, log 1+mean order value), trained on snapshots of the sampled customers
  taken on a weekly event-time grid; a snapshot at `s` is labelled by whether an order came
  in `(s, s + horizon]`, and only once `s + horizon ≤ now`. Labels never come from the
  model's own output, and positives and negatives resolve at the same time. For another
  horizon `h` the learned log-odds correction is carried over onto BG/NBD's `P(any | h)`.
  Until enough labels exist (`min_labels` of each class) BG/NBD alone answers.

The model refits every `refit_every` orders (deterministic, no clock): call
`observe_order(key, summary)` after every order with the customer's summary *including*
it, `forget(key)` on erasure, and read with `predict` / `predict_many`. A customer without
orders gets the prior predictive of a customer acquired at `now` (P(alive) = 1). Before the
first refit the parameters are the CDNOW fits (BG/NBD: Fader, Hardie & Lee 2005; Gamma-Gamma:
the `lifetimes` documentation). The model pickles (bytewax recovery) and is seeded.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.bgnbd import BGNBDParams, GammaGammaParams, fit_bgnbd, fit_gamma_gamma
from features.errors import ConfigError

__all__ = ["CDNOW_BGNBD", "CDNOW_GAMMA_GAMMA", "PurchaseSummary", "RepurchaseEstimate",
           "RepurchaseModel"]

DAY = 86400.0
CDNOW_BGNBD = BGNBDParams(r=0.243, alpha=4.414 * 7.0, a=0.793, b=2.426)  # α: weeks → days
CDNOW_GAMMA_GAMMA = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
_LOGIT_CLIP = 30.0
Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PurchaseSummary:
    """A customer's orders so far: count (first included), first/last time (s), revenue."""

    orders: int
    first_order_ts: float
    last_order_ts: float
    revenue: float

    def after_order(self, ts: float, revenue: float) -> PurchaseSummary:
        """The summary once an order at `ts` worth `revenue` is added."""
        return PurchaseSummary(self.orders + 1, min(self.first_order_ts, ts),
                               max(self.last_order_ts, ts), self.revenue + revenue)

    @staticmethod
    def first(ts: float, revenue: float) -> PurchaseSummary:
        """The summary of a customer's first order."""
        return PurchaseSummary(1, ts, ts, revenue)


@dataclass(frozen=True, slots=True)
class RepurchaseEstimate:
    """One customer's forecast over `horizon_days`."""

    p_repurchase: float
    expected_orders: float
    p_alive: float
    expected_value: float
    horizon_days: float


class _History:
    """A sampled customer: a checkpoint summary plus the orders after it (times in s)."""

    __slots__ = ("base", "rev", "ts")

    def __init__(self, base: PurchaseSummary) -> None:
        self.base = base
        self.ts: list[float] = []
        self.rev: list[float] = []

    @property
    def orders(self) -> int:
        return self.base.orders + len(self.ts)

    @property
    def revenue(self) -> float:
        return self.base.revenue + math.fsum(self.rev)

    @property
    def last_ts(self) -> float:
        return self.ts[-1] if self.ts else self.base.last_order_ts


class RepurchaseModel:
    """Online BG/NBD + Gamma-Gamma + a learned logistic correction (see the module doc)."""

    def __init__(self, *, horizon_days: float = 30.0, seed: int = 7, sample_size: int = 4000,
                 refit_every: int = 2000, snapshot_every_days: float = 7.0,
                 lookback_days: float = 364.0, max_history: int = 256, l2: float = 1.0,
                 min_labels: int = 200) -> None:
        for name, v in (("horizon_days", horizon_days), ("snapshot_every_days",
                        snapshot_every_days), ("lookback_days", lookback_days)):
            if not (v > 0 and math.isfinite(v)):
                msg = f"{name} must be a positive, finite number of days, got {v!r}"
                raise ConfigError(msg)
        for name, n in (("sample_size", sample_size), ("refit_every", refit_every),
                        ("max_history", max_history), ("min_labels", min_labels)):
            if int(n) < 1:
                msg = f"{name} must be a positive integer, got {n!r}"
                raise ConfigError(msg)
        self.horizon = float(horizon_days)
        self.sample_size = int(sample_size)
        self.refit_every = int(refit_every)
        self.step = float(snapshot_every_days)
        self.lookback = float(lookback_days)
        self.max_history = int(max_history)
        self.l2 = float(l2)
        self.min_labels = int(min_labels)
        self._key = hashlib.blake2b(str(seed).encode(), digest_size=16).digest()
        self._sample: dict[str, _History] = {}
        self._heap: list[tuple[int, str]] = []  # (-hash, key): the sample's largest on top
        self._now = -math.inf  # latest event time seen (s)
        self._since_fit = 0
        self.bgnbd = CDNOW_BGNBD
        self.gamma_gamma = CDNOW_GAMMA_GAMMA
        self.weights: Array | None = None  # [intercept, w...] over standardised features
        self._mu = np.zeros(5)
        self._sd = np.ones(5)
        self._coef: tuple[float, ...] = ()
        self.n_orders = 0
        self.n_fits = 0
        self.n_labels = 0

    # ---------------------------------------------------------------- updates

    def _hash(self, key: str) -> int:
        h = hashlib.blake2b(key.encode(), key=self._key, digest_size=8).digest()
        return int.from_bytes(h, "big")

    def observe_order(self, key: str, summary: PurchaseSummary) -> None:
        """Record an order: `summary` is the customer's summary including it."""
        if summary.orders < 1 or summary.last_order_ts < summary.first_order_ts:
            msg = (f"observe_order needs a summary with orders ≥ 1 and last ≥ first order "
                   f"time, got {summary!r}; build it with PurchaseSummary.after_order")
            raise ValueError(msg)
        self.n_orders += 1
        self._now = max(self._now, summary.last_order_ts)
        hist = self._sample.get(key)
        if hist is None:
            h = self._hash(key)
            if len(self._heap) >= self.sample_size:
                if h >= -self._heap[0][0]:
                    self._tick()
                    return
                _, out = heapq.heappop(self._heap)
                del self._sample[out]
            heapq.heappush(self._heap, (-h, key))
            self._sample[key] = _History(summary)
        elif summary.orders == hist.orders + 1 and summary.last_order_ts >= hist.last_ts:
            hist.ts.append(summary.last_order_ts)
            hist.rev.append(summary.revenue - hist.revenue)
            if len(hist.ts) > self.max_history:  # fold the oldest order into the checkpoint
                hist.base = hist.base.after_order(hist.ts.pop(0), hist.rev.pop(0))
        elif summary.orders != hist.orders or summary.last_order_ts != hist.last_ts:
            self._sample[key] = _History(summary)  # orders missed or state reset: restart
        self._tick()

    def advance_to(self, now: float) -> None:
        """Move the model's event-time clock (s) without an order; refits use this clock."""
        self._now = max(self._now, float(now))

    @property
    def now(self) -> float:
        """The latest event time (s) the model has seen."""
        return self._now

    @property
    def sampled(self) -> int:
        """How many customers the sample holds."""
        return len(self._sample)

    def _tick(self) -> None:
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self.refit()

    def forget(self, key: str) -> None:
        """Drop a customer from the sample (erasure)."""
        if self._sample.pop(key, None) is not None:
            self._heap = [e for e in self._heap if e[1] != key]
            heapq.heapify(self._heap)

    # ---------------------------------------------------------------- fitting

    def _current(self) -> tuple[Array, Array, Array, Array]:
        """Sample summaries as of now: orders, first, last (days), revenue."""
        hs = list(self._sample.values())
        n = np.array([h.orders for h in hs], dtype=np.float64)
        first = np.array([h.base.first_order_ts for h in hs]) / DAY
        last = np.array([h.last_ts for h in hs]) / DAY
        rev = np.array([h.revenue for h in hs], dtype=np.float64)
        return n, first, last, rev

    def refit(self) -> None:
        """Refit BG/NBD, Gamma-Gamma and the correction on the sample as of now."""
        self._since_fit = 0
        if len(self._sample) < 2:
            return
        now = self._now / DAY
        n, first, last, rev = self._current()
        self.bgnbd = fit_bgnbd(n - 1.0, last - first, now - first, init=self.bgnbd)
        if np.any(rev > 0):
            self.gamma_gamma = fit_gamma_gamma(n, rev / n, init=self.gamma_gamma)
        self.n_fits += 1
        X, y = self.training_set()
        pos = int(y.sum())
        self.n_labels = int(y.size)
        if min(pos, y.size - pos) < self.min_labels:
            self.weights = None
            return
        self._mu, self._sd = X.mean(axis=0), X.std(axis=0) + 1e-9
        self.weights = _newton_logistic((X - self._mu) / self._sd, y, self.l2, self.weights)
        slopes = self.weights[1:] / self._sd  # the same model on unstandardised features
        self._coef = (float(self.weights[0] - slopes @ self._mu), *map(float, slopes))

    def training_set(self) -> tuple[Array, Array]:
        """The correction's training rows as of the model's clock: features and labels.

        One row per sampled customer and grid time `s` (every `snapshot_every_days`, the
        latest at or before now − horizon, back `lookback_days`) at which the customer's
        history is known: features `[logit P_BG/NBD(any | horizon), log 1+x, log 1+(T − t_x),
        log 1+T, log 1+mean order value]` as of `s`, label 1.0 if an order came in
        `(s, s + horizon]`.

        Each customer is a segment `[checkpoint, order, order, ...]` of (time, orders,
        revenue) in one sorted array, offset by customer so one `searchsorted` finds, for
        every (customer, grid time s), the last entry at or before s and whether another
        entry falls in (s, s + horizon].
        """
        hs = list(self._sample.values())
        if not hs:
            return np.zeros((0, 5)), np.zeros(0)
        now = self._now / DAY
        top = math.floor((now - self.horizon) / self.step) * self.step
        grid = top - self.step * np.arange(max(int(self.lookback // self.step), 1))
        size = np.array([len(h.ts) + 1 for h in hs])
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        t = np.fromiter(chain.from_iterable((h.base.last_order_ts, *h.ts) for h in hs),
                        np.float64, int(size.sum())) / DAY
        inc = np.fromiter(chain.from_iterable((h.base.revenue, *h.rev) for h in hs),
                          np.float64, t.size)
        total = np.cumsum(inc)  # revenue up to each entry, per customer segment
        rev = total - np.repeat(total[start] - inc[start], size)
        orders = np.arange(t.size) - np.repeat(start, size) + np.repeat(
            np.array([h.base.orders for h in hs]), size)
        first = np.array([h.base.first_order_ts for h in hs]) / DAY
        t0 = min(float(t.min()), float(grid.min()))
        width = max(float(t.max()), float(grid.max()) + self.horizon) - t0 + 1.0
        offset = np.arange(len(hs)) * width - t0
        keys = t + np.repeat(offset, size)
        cust, j = np.nonzero(grid[None, :] >= t[start][:, None])  # checkpoint ≤ s
        s = grid[j]
        q = offset[cust] + s
        at = np.searchsorted(keys, q, side="right") - 1
        y = np.searchsorted(keys, q + self.horizon, side="right") - 1 > at
        X = self._features(orders[at].astype(np.float64), first[cust], t[at], rev[at], s,
                           self.horizon)
        return X, y.astype(np.float64)

    def _features(self, n: Array, first: Array, last: Array, rev: Array, now: ArrayLike,
                  horizon: float) -> Array:
        x, t_x, T = n - 1.0, last - first, np.asarray(now) - first
        p = np.clip(self.bgnbd.p_any(x, t_x, T, horizon), 1e-12, 1 - 1e-12)
        return np.column_stack([np.log(p) - np.log1p(-p), np.log1p(x), np.log1p(T - t_x),
                                np.log1p(T), np.log1p(np.maximum(rev, 0.0) / n)])

    # ---------------------------------------------------------------- reading

    def predict_many(self, orders: ArrayLike, first_order_ts: ArrayLike,
                     last_order_ts: ArrayLike, revenue: ArrayLike, now: float,
                     horizon_days: float | None = None) -> dict[str, Array]:
        """Vectorised `predict`: arrays of summaries (timestamps in s) at event time `now`.

        Returns arrays `p_repurchase`, `expected_orders`, `p_alive`, `expected_value`.
        Rows with `orders = 0` get the prior predictive of a customer acquired at `now`.
        """
        h = self.horizon if horizon_days is None else float(horizon_days)
        if not h > 0:
            msg = f"horizon_days must be positive, got {horizon_days!r}"
            raise ValueError(msg)
        n = np.asarray(orders, dtype=np.float64)
        none = n < 1
        t_now = now / DAY
        first = np.where(none, t_now, np.asarray(first_order_ts, dtype=np.float64) / DAY)
        last = np.where(none, t_now, np.asarray(last_order_ts, dtype=np.float64) / DAY)
        last = np.maximum(last, first)
        T = np.maximum(t_now - first, last - first)
        ns = np.maximum(n, 1.0)
        x, t_x = ns - 1.0, last - first
        bg = self.bgnbd
        p_alive = bg.p_alive(x, t_x, T)
        p_any = bg.p_any(x, t_x, T, h)
        if self.weights is not None:
            F = self._features(ns, first, last, np.asarray(revenue, dtype=np.float64),
                               first + T, self.horizon)
            z = np.column_stack([np.ones(len(F)), (F - self._mu) / self._sd]) @ self.weights
            correction = np.clip(z, -_LOGIT_CLIP, _LOGIT_CLIP) - F[:, 0]
            q = np.clip(p_any, 1e-12, 1 - 1e-12)
            base = F[:, 0] if h == self.horizon else np.log(q) - np.log1p(-q)
            learned = 1.0 / (1.0 + np.exp(-np.clip(base + correction, -_LOGIT_CLIP, _LOGIT_CLIP)))
            p_any = np.where(none, p_any, learned)
        expected = bg.expected(x, t_x, T, h)
        m = np.where(none, 0.0, np.maximum(np.asarray(revenue, dtype=np.float64), 0.0) / ns)
        value = expected * self.gamma_gamma.conditional_mean(np.where(none, 0.0, ns), m)
        return {"p_repurchase": p_any, "expected_orders": expected, "p_alive": p_alive,
                "expected_value": value}

    def predict(self, summary: PurchaseSummary | None, now: float,
                horizon_days: float | None = None) -> RepurchaseEstimate:
        """Forecast for one customer at event time `now` (s); `None` = no orders yet."""
        h = self.horizon if horizon_days is None else float(horizon_days)
        if not h > 0:
            msg = f"horizon_days must be positive, got {horizon_days!r}"
            raise ValueError(msg)
        bg = self.bgnbd
        if summary is None or summary.orders < 1:
            _, p_any, expected = bg.one(0.0, 0.0, 0.0, h)
            return RepurchaseEstimate(p_any, expected, 1.0, expected * self.gamma_gamma.mean, h)
        n = float(summary.orders)
        first = summary.first_order_ts / DAY
        last = max(summary.last_order_ts / DAY, first)
        T = max(now / DAY - first, last - first)
        x, t_x = n - 1.0, last - first
        p_alive, p_any, expected = bg.one(x, t_x, T, h)
        if self.weights is not None:
            q = p_any if h == self.horizon else bg.one(x, t_x, T, self.horizon)[1]
            f0 = _logit(q)
            c = self._coef
            z = (c[0] + c[1] * f0 + c[2] * math.log1p(x) + c[3] * math.log1p(T - t_x)
                 + c[4] * math.log1p(T) + c[5] * math.log1p(max(summary.revenue, 0.0) / n))
            correction = min(max(z, -_LOGIT_CLIP), _LOGIT_CLIP) - f0
            base = f0 if h == self.horizon else _logit(p_any)
            p_any = _sigmoid(min(max(base + correction, -_LOGIT_CLIP), _LOGIT_CLIP))
        m = self.gamma_gamma.conditional_mean_one(n, max(summary.revenue, 0.0) / n)
        return RepurchaseEstimate(p_any, expected, p_alive, expected * m, h)


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(p) - math.log1p(-p)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _newton_logistic(Z: Array, y: Array, l2: float, init: Array | None) -> Array:
    """L2-penalised logistic regression (intercept unpenalised) by Newton's method."""
    A = np.column_stack([np.ones(len(Z)), Z])
    w = init.copy() if init is not None and init.shape == (A.shape[1],) else np.zeros(A.shape[1])
    pen = np.full(A.shape[1], l2)
    pen[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -_LOGIT_CLIP, _LOGIT_CLIP)))
        g = A.T @ (p - y) + pen * w
        H = (A * (p * (1.0 - p))[:, None]).T @ A + np.diag(pen + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w
