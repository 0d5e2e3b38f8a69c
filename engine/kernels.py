"""The scoring hot path: numba kernels, each with a plain-Python twin that tests compare.

Only arrays and scalars cross this boundary. One call scores every treatment (action ×
channel) of a decision: eligibility (stage, trigger, channel, per-action blocks, budget and
rule predicates), propensity `sigmoid(w·x + b)`, context weight, arbitration
`priority = propensity × context weight × value × lever − cost`, Thompson sampling over the
top candidates with a diagonal Gaussian posterior on the logit, and the top-k ranking.

Status codes per treatment: see `STATUS`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "CANDIDATES",
    "EPSILON",
    "STATUS",
    "score_batch",
    "score_batch_py",
    "score_one",
    "score_one_py",
    "splitmix_normal_py",
    "warm_up",
]

STATUS = ("eligible", "stage", "trigger", "channel", "blocked", "budget", "rule")
CANDIDATES = 16
"""Thompson draws are taken over the top treatments by optimistic (UCB) priority."""
EPSILON = 0.02
"""Share of choices spread uniformly over eligible candidates (full support for OPE)."""

_U64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


# ----------------------------------------------------------------------------- numba side


@numba.njit(cache=True, inline="always")
def _mix(state: np.uint64) -> np.uint64:
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _uniform(seed: np.uint64, i: int) -> float:
    z = _mix(seed + np.uint64(i + 1) * np.uint64(_GOLDEN))
    return (float(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always")
def _normal(seed: np.uint64, i: int) -> float:
    u1 = _uniform(seed, 2 * i)
    u2 = _uniform(seed, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@numba.njit(cache=True, inline="always")
def _holds(v: float, op: int, c: float) -> bool:
    if op == 0:
        return v < c
    if op == 1:
        return v <= c
    if op == 2:
        return v > c
    if op == 3:
        return v >= c
    if op == 4:
        return v == c
    return v != c


@numba.njit(cache=True, fastmath=True)
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    acc = np.float32(0.0)
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=True)
def _context_weight(t, rule, cw_ptr, cw_feat, cw_op, cw_val, cw_group, cw_weight):  # noqa: ANN001
    weight = 1.0
    lo, hi = cw_ptr[t], cw_ptr[t + 1]
    i = lo
    while i < hi:
        g = cw_group[i]
        ok = True
        w = cw_weight[i]
        while i < hi and cw_group[i] == g:
            if not _holds(rule[cw_feat[i]], cw_op[i], cw_val[i]):
                ok = False
            i += 1
        if ok:
            weight *= w
    return weight


@numba.njit(cache=True)
def _arbitrate(logit, var, ctxw, value, lever, cost, status, priority, topk, seed, n_draws):  # noqa: ANN001, PLR0913
    """Given per-treatment logits/variances, fill priority and top-k; return (chosen, prob)."""
    n = logit.shape[0]
    n_ok = 0
    for t in range(n):
        if status[t] == 0:
            n_ok += 1
            p = 1.0 / (1.0 + math.exp(-logit[t]))
            priority[t] = p * ctxw[t] * value[t] * lever[t] - cost[t]
        else:
            priority[t] = -np.inf
    k = topk.shape[0]
    for j in range(k):  # top-k by mean priority (k is small)
        best, best_t = -np.inf, -1
        for t in range(n):
            if priority[t] > best:
                taken = False
                for q in range(j):
                    if topk[q] == t:
                        taken = True
                if not taken:
                    best, best_t = priority[t], t
        topk[j] = best_t
    if n_ok == 0:
        return -1, 0.0
    # candidates: top CANDIDATES by optimistic priority (logit + 2 sigma)
    c = min(CANDIDATES, n_ok)
    cand = np.full(c, -1, dtype=np.int64)
    ucb = np.empty(n)
    for t in range(n):
        if status[t] == 0:
            p = 1.0 / (1.0 + math.exp(-(logit[t] + 2.0 * math.sqrt(var[t]))))
            ucb[t] = p * ctxw[t] * value[t] * lever[t] - cost[t]
        else:
            ucb[t] = -np.inf
    for j in range(c):
        best, best_t = -np.inf, -1
        for t in range(n):
            if ucb[t] > best:
                best, best_t = ucb[t], t
        cand[j] = best_t
        ucb[best_t] = -np.inf
    counts = np.zeros(c)
    draw = 0
    for m in range(n_draws):
        best, best_j = -np.inf, 0
        for j in range(c):
            t = cand[j]
            z = _normal(seed, draw)
            draw += 1
            p = 1.0 / (1.0 + math.exp(-(logit[t] + math.sqrt(var[t]) * z)))
            s = p * ctxw[t] * value[t] * lever[t] - cost[t]
            if s > best:
                best, best_j = s, j
        counts[best_j] += 1.0
    u = _uniform(seed, 1 << 30)
    acc = 0.0
    chosen = c - 1
    for j in range(c):
        pj = (1.0 - EPSILON) * counts[j] / n_draws + EPSILON / c
        acc += pj
        if u < acc:
            chosen = j
            break
    prob = (1.0 - EPSILON) * counts[chosen] / n_draws + EPSILON / c
    return cand[chosen], prob


@numba.njit(cache=True)
def _eligibility(rule, t, t_channel, t_action, stage_mask, trigger_mask, pred_ptr, pred_feat,  # noqa: ANN001, PLR0913
                 pred_op, pred_val, channel_ok, action_ok, budget_left, stage_bit, trigger_bit):
    if stage_mask[t] & stage_bit == 0:
        return 1
    if trigger_mask[t] & trigger_bit == 0:
        return 2
    if channel_ok[t_channel[t]] == 0:
        return 3
    a = t_action[t]
    if action_ok[a] == 0:
        return 4
    if budget_left[a] <= 0:
        return 5
    for i in range(pred_ptr[t], pred_ptr[t + 1]):
        if not _holds(rule[pred_feat[i]], pred_op[i], pred_val[i]):
            return 6
    return 0


@numba.njit(cache=True)
def score_one(x, rule, W, b, V, value, lever, cost, t_channel, t_action, stage_mask,  # noqa: ANN001, PLR0913
              trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, cw_feat, cw_op,
              cw_val, cw_group, cw_weight, channel_ok, action_ok, budget_left, stage_bit,
              trigger_bit, seed, n_draws, status, priority, topk):
    """Score every treatment for one decision; fills status/priority/topk, returns (t, prob)."""
    n = W.shape[0]
    logit = np.empty(n)
    var = np.empty(n)
    ctxw = np.empty(n)
    x2 = x * x
    for t in range(n):
        st = _eligibility(rule, t, t_channel, t_action, stage_mask, trigger_mask, pred_ptr,
                          pred_feat, pred_op, pred_val, channel_ok, action_ok, budget_left,
                          stage_bit, trigger_bit)
        status[t] = st
        if st == 0:
            logit[t] = _dot(W[t], x) + b[t]
            var[t] = _dot(V[t], x2)
            ctxw[t] = _context_weight(t, rule, cw_ptr, cw_feat, cw_op, cw_val, cw_group,
                                      cw_weight)
    return _arbitrate(logit, var, ctxw, value, lever, cost, status, priority, topk,
                      np.uint64(seed), n_draws)


@numba.njit(cache=True)
def score_batch(X, R, W, b, V, value, lever, cost, t_channel, t_action, stage_mask,  # noqa: ANN001, PLR0913
                trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, cw_feat, cw_op,
                cw_val, cw_group, cw_weight, channel_ok, action_ok, budget_left, stage_bit,
                trigger_bit, seeds, n_draws, status, priority, topk, chosen, prob):
    """Score B decisions at once: logits and variances by two GEMMs, then per-row arbitration."""
    nb = X.shape[0]
    n = W.shape[0]
    logits = np.dot(X, W.T)
    variances = np.dot(X * X, V.T)
    ctxw = np.empty(n)
    for r in range(nb):
        for t in range(n):
            st = _eligibility(R[r], t, t_channel, t_action, stage_mask, trigger_mask, pred_ptr,
                              pred_feat, pred_op, pred_val, channel_ok[r], action_ok[r],
                              budget_left, stage_bit[r], trigger_bit[r])
            status[r, t] = st
            if st == 0:
                ctxw[t] = _context_weight(t, R[r], cw_ptr, cw_feat, cw_op, cw_val, cw_group,
                                          cw_weight)
        lg = np.empty(n)
        vr = np.empty(n)
        for t in range(n):
            lg[t] = logits[r, t] + b[t]
            vr[t] = variances[r, t]
        c, p = _arbitrate(lg, vr, ctxw, value, lever, cost, status[r], priority[r], topk[r],
                          np.uint64(seeds[r]), n_draws)
        chosen[r] = c
        prob[r] = p


# ---------------------------------------------------------------------------- Python twins


def _mix_py(z: int) -> int:
    z = ((z ^ (z >> 30)) * _M1) & _U64
    z = ((z ^ (z >> 27)) * _M2) & _U64
    return z ^ (z >> 31)


def _uniform_py(seed: int, i: int) -> float:
    z = _mix_py((seed + (i + 1) * _GOLDEN) & _U64)
    return ((z >> 11) + 0.5) * (1.0 / 9007199254740992.0)


def splitmix_normal_py(seed: int, i: int) -> float:
    """The i-th standard normal of the kernels' counter-based generator for `seed`."""
    u1, u2 = _uniform_py(seed, 2 * i), _uniform_py(seed, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


_OPS_PY = (
    lambda v, c: v < c,
    lambda v, c: v <= c,
    lambda v, c: v > c,
    lambda v, c: v >= c,
    lambda v, c: v == c,
    lambda v, c: v != c,
)


def score_one_py(x, rule, W, b, V, value, lever, cost, t_channel, t_action, stage_mask,  # noqa: ANN001, PLR0913
                 trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, cw_feat, cw_op,
                 cw_val, cw_group, cw_weight, channel_ok, action_ok, budget_left, stage_bit,
                 trigger_bit, seed, n_draws, status, priority, topk):
    """Plain-Python twin of `score_one` (same arguments, same outputs)."""
    n = W.shape[0]
    logit, var, ctxw = [0.0] * n, [0.0] * n, [1.0] * n
    for t in range(n):
        a = int(t_action[t])
        if not stage_mask[t] & stage_bit:
            st = 1
        elif not trigger_mask[t] & trigger_bit:
            st = 2
        elif not channel_ok[t_channel[t]]:
            st = 3
        elif not action_ok[a]:
            st = 4
        elif budget_left[a] <= 0:
            st = 5
        elif not all(_OPS_PY[pred_op[i]](float(rule[pred_feat[i]]), float(pred_val[i]))
                     for i in range(pred_ptr[t], pred_ptr[t + 1])):
            st = 6
        else:
            st = 0
        status[t] = st
        if st:
            continue
        logit[t] = sum(float(W[t, i]) * float(x[i]) for i in range(x.shape[0])) + float(b[t])
        var[t] = sum(float(V[t, i]) * float(x[i]) ** 2 for i in range(x.shape[0]))
        groups: dict[int, tuple[bool, float]] = {}
        for i in range(cw_ptr[t], cw_ptr[t + 1]):
            ok, w = groups.get(int(cw_group[i]), (True, float(cw_weight[i])))
            held = _OPS_PY[cw_op[i]](float(rule[cw_feat[i]]), float(cw_val[i]))
            groups[int(cw_group[i])] = (ok and held, w)
        for ok, w in groups.values():
            if ok:
                ctxw[t] *= w

    def prio(t: int, lg: float) -> float:
        p = 1.0 / (1.0 + math.exp(-lg))
        return p * ctxw[t] * float(value[t]) * float(lever[t]) - float(cost[t])

    eligible = [t for t in range(n) if status[t] == 0]
    for t in range(n):
        priority[t] = prio(t, logit[t]) if status[t] == 0 else -np.inf
    order = sorted(range(n), key=lambda t: (-priority[t], t))
    for j in range(topk.shape[0]):
        topk[j] = order[j] if j < len(eligible) else -1
    if not eligible:
        return -1, 0.0
    c = min(CANDIDATES, len(eligible))
    ucb = {t: prio(t, logit[t] + 2.0 * math.sqrt(var[t])) for t in eligible}
    cand = sorted(eligible, key=lambda t: (-ucb[t], t))[:c]
    counts = [0.0] * c
    draw = 0
    for _ in range(n_draws):
        scores = []
        for t in cand:
            z = splitmix_normal_py(seed, draw)
            draw += 1
            scores.append(prio(t, logit[t] + math.sqrt(var[t]) * z))
        counts[max(range(c), key=lambda j: (scores[j], -j))] += 1.0
    u = _uniform_py(seed, 1 << 30)
    acc, chosen = 0.0, c - 1
    for j in range(c):
        acc += (1.0 - EPSILON) * counts[j] / n_draws + EPSILON / c
        if u < acc:
            chosen = j
            break
    return cand[chosen], (1.0 - EPSILON) * counts[chosen] / n_draws + EPSILON / c


def score_batch_py(X, R, W, b, V, value, lever, cost, t_channel, t_action, stage_mask,  # noqa: ANN001, PLR0913
                   trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, cw_feat, cw_op,
                   cw_val, cw_group, cw_weight, channel_ok, action_ok, budget_left, stage_bit,
                   trigger_bit, seeds, n_draws, status, priority, topk, chosen, prob):
    """Plain-Python twin of `score_batch`: `score_one_py` row by row."""
    for r in range(X.shape[0]):
        chosen[r], prob[r] = score_one_py(
            X[r], R[r], W, b, V, value, lever, cost, t_channel, t_action, stage_mask,
            trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, cw_feat, cw_op, cw_val,
            cw_group, cw_weight, channel_ok[r], action_ok[r], budget_left, stage_bit[r],
            trigger_bit[r], int(seeds[r]), n_draws, status[r], priority[r], topk[r])


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel signature used at run time."""
    from engine.scorer import Scorer  # noqa: PLC0415 - the scorer imports this module

    Scorer.warm_up()
