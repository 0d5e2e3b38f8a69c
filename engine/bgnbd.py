"""BG/NBD purchase counts and Gamma-Gamma order values: closed forms and maximum likelihood.

The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while
alive a customer orders as a Poisson process of rate λ ~ Gamma(r, α); after each order they
drop out with probability p ~ Beta(a, b). A customer's history enters only through
`x` (repeat orders: orders after the first), `t_x` (time of the last order since the first)
and `T` (time since the first order); all times here are in days. Gamma-Gamma (Fader, Hardie
& Lee 2005, "RFM and CLV") models a customer's mean order value `m` over `n` orders: values
~ Gamma(p, ν), ν ~ Gamma(q, γ).

Every function is vectorised over numpy arrays and finite for `x = 0`, `t_x = T`, `T = 0` and
huge `T` (log-space ratios, `expit`, `expm1`). Fits are deterministic (BFGS with
analytic gradients on log parameters, bounded so a sample without dropouts cannot diverge).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

__all__ = ["BGNBDParams", "GammaGammaParams", "fit_bgnbd", "fit_gamma_gamma"]

Array = NDArray[np.float64]
_LOG_BOUND = 12.0  # |log parameter| ≤ 12: e^±12 spans every plausible scale in days
_A_NEAR_ONE = 1e-6  # the expectation's (a - 1) pole is removable; step around it


def _f(v: ArrayLike) -> Array:
    return np.asarray(v, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    """Population parameters of BG/NBD; `alpha` is in days (r, a, b have no unit)."""

    r: float
    alpha: float
    a: float
    b: float

    def log_ratio_dead(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """log(P(dead) / P(alive)) given the history; -inf for `x = 0` (never dropped out)."""
        x, t_x, T = _f(x), _f(t_x), _f(T)
        xs = np.maximum(x, 1.0)
        lr = (np.log(self.a) - np.log(self.b + xs - 1.0)
              + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        return np.where(x > 0, lr, -np.inf)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """P(still alive at T | x, t_x, T)."""
        return expit(-self.log_ratio_dead(x, t_x, T))

    def p_any(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, t: float) -> Array:
        """P(at least one order in (T, T + t]): P(alive) · (1 − E[e^{−λt} | alive])."""
        x, T = _f(x), _f(T)
        none_if_alive = -np.expm1(-(self.r + x) * np.log1p(t / (self.alpha + T)))
        return self.p_alive(x, t_x, T) * none_if_alive

    def expected(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, t: float) -> Array:
        """E[orders in (T, T + t] | x, t_x, T] (the paper's equation 10)."""
        x, t_x, T = _f(x), _f(t_x), _f(T)
        r, alpha, b = self.r, self.alpha, self.b
        a = self.a if abs(self.a - 1.0) > _A_NEAR_ONE else 1.0 + _A_NEAR_ONE
        c = a + b + x - 1.0
        # ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; c; t/(α+T+t)) by Pfaff's transformation:
        # 2F1(r+x, a−1; c; −t/(α+T)), which stays finite for large r + x.
        hyp = hyp2f1(r + x, a - 1.0, c, -t / (alpha + T))
        num = c / (a - 1.0) * (1.0 - hyp)
        return np.maximum(num * expit(-self.log_ratio_dead(x, t_x, T)), 0.0)

    def one(self, x: float, t_x: float, T: float, t: float) -> tuple[float, float, float]:
        """(p_alive, p_any, expected) for one customer, in plain floats (no array overhead)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if x > 0:
            lr = (math.log(a) - math.log(b + x - 1.0)
                  + (r + x) * (math.log(alpha + T) - math.log(alpha + t_x)))
            e = math.exp(-abs(lr))
            p_alive = e / (1.0 + e) if lr > 0 else 1.0 / (1.0 + e)
        else:
            p_alive = 1.0
        p_any = p_alive * -math.expm1(-(r + x) * math.log1p(t / (alpha + T)))
        a = a if abs(a - 1.0) > _A_NEAR_ONE else 1.0 + _A_NEAR_ONE
        c = a + b + x - 1.0
        hyp = float(hyp2f1(r + x, a - 1.0, c, -t / (alpha + T)))
        return p_alive, p_any, max(c / (a - 1.0) * (1.0 - hyp) * p_alive, 0.0)

    def expected_new(self, t: float) -> float:
        """E[orders in (0, t]] for a customer acquired at time 0 (x = t_x = T = 0)."""
        return float(self.expected(0.0, 0.0, 0.0, t))

    def log_likelihood(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """Per-customer log-likelihood of (x, t_x, T)."""
        return _bgnbd_ll(np.log([self.r, self.alpha, self.a, self.b]), _f(x), _f(t_x), _f(T))[0]


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma order-value parameters (`q > 1`, so the population mean exists)."""

    p: float
    q: float
    gamma: float

    @property
    def mean(self) -> float:
        """Population mean order value, p γ / (q − 1)."""
        return self.p * self.gamma / (self.q - 1.0)

    def conditional_mean(self, n: ArrayLike, m: ArrayLike) -> Array:
        """E[mean order value | n orders of mean m]; the population mean for n = 0."""
        n, m = _f(n), _f(m)
        return self.p * (self.gamma + n * m) / (self.p * n + self.q - 1.0)

    def conditional_mean_one(self, n: float, m: float) -> float:
        """`conditional_mean` for one customer, in plain floats."""
        return self.p * (self.gamma + n * m) / (self.p * n + self.q - 1.0)


def _minimize(objective: Callable[[Array], tuple[float, Array]], starts: list[Array]) -> Array:
    """The best of BFGS runs from `starts`, with every parameter kept in ±_LOG_BOUND.

    The bound is a smooth change of variable, θ = B tanh(u / B), so plain BFGS (no
    Fortran/C minimiser and its per-iteration BLAS calls) does the work.
    """
    def inner(u: Array) -> tuple[float, Array]:
        th = np.tanh(u / _LOG_BOUND)
        f, g = objective(_LOG_BOUND * th)
        return f, g * (1.0 - th * th)

    best = None
    for theta0 in starts:
        u0 = _LOG_BOUND * np.arctanh(np.clip(theta0 / _LOG_BOUND, -0.999, 0.999))
        res = minimize(inner, u0, jac=True, method="BFGS", options={"gtol": 1e-8,
                                                                     "maxiter": 1000})
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    return _LOG_BOUND * np.tanh(best.x / _LOG_BOUND)


def _bgnbd_ll(theta: Array, x: Array, t_x: Array, T: Array,
              groups: tuple[Array, Array] | None = None) -> tuple[Array, Array]:
    """Log-likelihood per customer and its gradient in log parameters (4 × n).

    `groups` = `np.unique(x, return_inverse=True)`: the special functions of `x` are
    evaluated once per distinct repeat count, which is most of a fit's time otherwise.
    """
    r, alpha, a, b = np.exp(theta)
    ux, inv = groups if groups is not None else np.unique(x, return_inverse=True)
    gl = gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)
    dg_r, dg_b, dg_ab = digamma(r + ux), digamma(b + ux), digamma(a + b + ux)
    gl, dg_r, dg_b, dg_ab = gl[inv], dg_r[inv], dg_b[inv], dg_ab[inv]
    pos = x > 0
    xs = np.maximum(x, 1.0)
    la_T, la_tx = np.log(alpha + T), np.log(alpha + t_x)
    const = -gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b)
    a3 = -(r + x) * la_T
    a4 = np.where(pos, np.log(a) - np.log(b + xs - 1.0) - (r + x) * la_tx, -np.inf)
    top = np.maximum(a3, a4)
    lse = top + np.log(np.exp(a3 - top) + np.exp(a4 - top))
    w = np.exp(a4 - lse)  # weight of "dropped out right after the last order"
    g_r = dg_r - digamma(r) + np.log(alpha) - (1 - w) * la_T - w * la_tx
    g_alpha = r / alpha - (1 - w) * (r + x) / (alpha + T) - w * (r + x) / (alpha + t_x)
    g_a = digamma(a + b) - dg_ab + w / a
    g_b = (digamma(a + b) + dg_b - digamma(b) - dg_ab
           - np.where(pos, w / (b + xs - 1.0), 0.0))
    grad = np.stack([r * g_r, alpha * g_alpha, a * g_a, b * g_b])
    return const + gl + lse, grad


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
              init: BGNBDParams | None = None) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for customers' (x, t_x, T), times in days.

    The likelihood can have several local optima (a young sample barely identifies dropout),
    so the optimiser starts from r = a = b = 1, α = the mean tenure, and also from `init`
    (an earlier fit) when given, and keeps the better. Raises ValueError for an empty sample
    or inconsistent summaries.
    """
    x, t_x, T = _f(x), _f(t_x), _f(T)
    if x.size == 0:
        msg = "fit_bgnbd needs at least one customer summary; observe some orders first"
        raise ValueError(msg)
    if x.shape != t_x.shape or x.shape != T.shape:
        msg = f"x, t_x and T must have one shape, got {x.shape!r}, {t_x.shape!r}, {T.shape!r}"
        raise ValueError(msg)
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        msg = "summaries need x ≥ 0 and 0 ≤ t_x ≤ T (days since the first order)"
        raise ValueError(msg)
    starts = [np.array([0.0, np.log(max(float(T.mean()), 1.0)), 0.0, 0.0])]
    if init is not None:
        starts.append(np.log([init.r, init.alpha, init.a, init.b]))
    n = float(x.size)
    groups = np.unique(x, return_inverse=True)

    def objective(theta: Array) -> tuple[float, Array]:
        ll, grad = _bgnbd_ll(theta, x, t_x, T, groups)
        return -float(ll.sum()) / n, -grad.sum(axis=1) / n

    r, alpha, a, b = (float(v) for v in np.exp(_minimize(objective, starts)))
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b)


def _gg_ll(theta: Array, n: Array, m: Array) -> tuple[Array, Array]:
    """Gamma-Gamma log-likelihood of each customer's mean value and its gradient (3 × k)."""
    p, q, g = np.exp(theta[0]), 1.0 + np.exp(theta[1]), np.exp(theta[2])
    pn = p * n
    lnm = np.log(n * m + g)
    ll = (gammaln(pn + q) - gammaln(pn) - gammaln(q) + q * np.log(g)
          + (pn - 1.0) * np.log(m) + pn * np.log(n) - (pn + q) * lnm)
    g_p = n * (digamma(pn + q) - digamma(pn) + np.log(m) + np.log(n) - lnm)
    g_q = digamma(pn + q) - digamma(q) + np.log(g) - lnm
    g_g = q / g - (pn + q) / (n * m + g)
    return ll, np.stack([p * g_p, (q - 1.0) * g_q, g * g_g])


def fit_gamma_gamma(n: ArrayLike, m: ArrayLike, *,
                    init: GammaGammaParams | None = None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from order counts `n` and mean values `m`.

    Customers with `n < 1` or `m ≤ 0` carry no value information and are left out.
    Raises ValueError when none is left.
    """
    n, m = _f(n), _f(m)
    keep = (n >= 1) & (m > 0) & np.isfinite(m)
    n, m = n[keep], m[keep]
    if n.size == 0:
        msg = "fit_gamma_gamma needs customers with at least one order of positive value"
        raise ValueError(msg)
    if init is None:
        theta0 = np.array([np.log(4.0), np.log(3.0), np.log(3.0 * float(m.mean()) / 4.0)])
    else:
        theta0 = np.log([init.p, init.q - 1.0, init.gamma])
    k = float(n.size)

    def objective(theta: Array) -> tuple[float, Array]:
        ll, grad = _gg_ll(theta, n, m)
        return -float(ll.sum()) / k, -grad.sum(axis=1) / k

    p, q1, g = (float(v) for v in np.exp(_minimize(objective, [theta0])))
    return GammaGammaParams(p=p, q=1.0 + q1, gamma=g)
