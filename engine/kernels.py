"""The scoring hot path: numba kernels, each with a plain-Python twin that tests compare.

Only arrays and scalars cross this boundary. One call scores every treatment (action ×
channel) of a decision: eligibility (stage, trigger, channel, per-action blocks, budget and
rule predicates), propensity `sigmoid(w·x + b)`, context weight, arbitration
`priority = propensity × context weight × value × lever − cost`, the top-k ranking, and
Thompson sampling over the best `CANDIDATES` with a Gaussian posterior on each logit (its
variance `V · x²` plus the offset variance the scorer computes, which carries the crosses'
part, a full shared part's and the block parts' as one sum).
The choice is drawn from the Thompson draw frequencies mixed with `EPSILON` uniform over every
eligible treatment, so the returned probability is the policy's own.

Only the candidates need an exact priority: a treatment whose exp-free upper bound cannot
beat the current last candidate is skipped, so most treatments cost one dot product.

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
CANDIDATES = 8
"""Thompson draws are taken over the top treatments by optimistic priority (logit + 2 sd)."""
EPSILON = 0.02
"""Share of choices spread uniformly over every eligible treatment (full support for OPE)."""

_FAST = {"reassoc", "contract", "arcp"}  # vectorized reductions; inf/nan keep their meaning
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


@numba.njit(cache=True, inline="always")
def _sigmoid_bound(z: float) -> float:
    """An upper bound of the logistic function that needs no `exp`.

    For z >= 0 the tangent at 0 bounds the concave half; for z < 0,
    `exp(-z) >= 1 - z + z*z/2` (all terms positive) gives `1 / (2 - z + z*z/2)`.
    """
    if z >= 0.0:
        return min(1.0, 0.5 + 0.25 * z)
    return 1.0 / (2.0 - z + 0.5 * z * z)


@numba.njit(cache=True, inline="always")
def _context_weight(t, rule, cw_ptr, cw_feat, cw_op, cw_val, cw_group, cw_weight):
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


@numba.njit(cache=True, fastmath=_FAST)
def _score_row(
    x,
    rule,
    pre,
    W,
    b,
    V,
    vmax,
    off,
    off_var,
    value,
    lever,
    cost,
    t_channel,
    t_action,
    stage_mask,
    trigger_mask,
    pred_ptr,
    pred_feat,
    pred_op,
    pred_val,
    cw_ptr,
    cw_feat,
    cw_op,
    cw_val,
    cw_group,
    cw_weight,
    channel_ok,
    action_ok,
    treatment_ok,
    budget_left,
    stage_bit,
    trigger_bit,
    seed,
    n_draws,
    status,
    topk,
    topk_score,
):
    """One decision. `pre` holds precomputed logits (batched GEMM) or is empty."""
    n, nf = W.shape
    have_pre = pre.shape[0] > 0
    c_max = CANDIDATES
    cand_val = np.full(c_max, -np.inf)
    cand = np.full(c_max, -1, dtype=np.int64)
    cand_logit = np.zeros(c_max)
    cand_mult = np.zeros(c_max)
    k_top = topk.shape[0]
    for j in range(k_top):
        topk[j] = -1
        topk_score[j] = -np.inf
    x2sum = 0.0
    for i in range(nf):
        x2sum += x[i] * x[i]
    n_ok = 0
    for t in range(n):
        a = t_action[t]
        if stage_mask[t] & stage_bit == 0:
            status[t] = 1
            continue
        if trigger_mask[t] & trigger_bit == 0:
            status[t] = 2
            continue
        if channel_ok[t_channel[t]] == 0:
            status[t] = 3
            continue
        if action_ok[a] == 0 or treatment_ok[t] == 0:
            status[t] = 4
            continue
        if budget_left[a] <= 0:
            status[t] = 5
            continue
        ok = True
        for i in range(pred_ptr[t], pred_ptr[t + 1]):
            if not _holds(rule[pred_feat[i]], pred_op[i], pred_val[i]):
                ok = False
                break
        if not ok:
            status[t] = 6
            continue
        status[t] = 0
        n_ok += 1
        if have_pre:
            lg = pre[t] + b[t] + off[t]
        else:
            acc = np.float32(0.0)
            for i in range(nf):
                acc += W[t, i] * x[i]
            lg = acc + b[t] + off[t]
        m = value[t] * lever[t]
        if cw_ptr[t + 1] > cw_ptr[t]:
            m *= _context_weight(t, rule, cw_ptr, cw_feat, cw_op, cw_val, cw_group, cw_weight)
        # top-k by mean priority (the ranking reported)
        if m * _sigmoid_bound(lg) - cost[t] > topk_score[k_top - 1]:
            p = m / (1.0 + math.exp(-lg)) - cost[t]
            k = k_top - 1
            if p > topk_score[k]:
                while k > 0 and topk_score[k - 1] < p:
                    topk_score[k] = topk_score[k - 1]
                    topk[k] = topk[k - 1]
                    k -= 1
                topk_score[k] = p
                topk[k] = t
        # Thompson candidates by optimistic priority: logit + 2 sd, sd bounded by vmax
        opt = lg + 2.0 * math.sqrt(vmax[t] * x2sum + off_var[t])
        if not m * _sigmoid_bound(opt) - cost[t] > cand_val[c_max - 1]:
            continue  # cannot enter the candidates: no exp needed
        q = m / (1.0 + math.exp(-opt)) - cost[t]
        k = c_max - 1
        if q > cand_val[k]:
            while k > 0 and cand_val[k - 1] < q:
                cand_val[k] = cand_val[k - 1]
                cand[k] = cand[k - 1]
                cand_logit[k] = cand_logit[k - 1]
                cand_mult[k] = cand_mult[k - 1]
                k -= 1
            cand_val[k] = q
            cand[k] = t
            cand_logit[k] = lg
            cand_mult[k] = m
    if n_ok == 0:
        return -1, 0.0
    c = min(c_max, n_ok)
    sd = np.empty(c)
    for j in range(c):
        t = cand[j]
        acc = np.float32(0.0)
        for i in range(nf):
            acc += V[t, i] * (x[i] * x[i])
        sd[j] = math.sqrt(max(acc + off_var[t], 0.0))
    total = n_draws * c
    z = np.empty(total + 1)
    for i in range(0, total, 2):
        u1 = _uniform(seed, i)
        u2 = _uniform(seed, i + 1)
        r = math.sqrt(-2.0 * math.log(u1))
        z[i] = r * math.cos(2.0 * math.pi * u2)
        z[i + 1] = r * math.sin(2.0 * math.pi * u2)
    counts = np.zeros(c)
    for d in range(n_draws):
        best, best_j = -np.inf, 0
        for j in range(c):
            t = cand[j]
            s = cand_mult[j] / (1.0 + math.exp(-(cand_logit[j] + sd[j] * z[d * c + j]))) - cost[t]
            if s > best:
                best, best_j = s, j
        counts[best_j] += 1.0
    u = _uniform(seed, 1 << 30)
    chosen = -1
    if u < EPSILON:
        e = min(int(u / EPSILON * n_ok), n_ok - 1)
        for t in range(n):
            if status[t] == 0:
                if e == 0:
                    chosen = t
                    break
                e -= 1
    else:
        v = (u - EPSILON) / (1.0 - EPSILON) * n_draws
        acc = 0.0
        chosen = cand[c - 1]
        for j in range(c):
            acc += counts[j]
            if v < acc:
                chosen = cand[j]
                break
    prob = EPSILON / n_ok
    for j in range(c):
        if cand[j] == chosen:
            prob += (1.0 - EPSILON) * counts[j] / n_draws
    return chosen, prob


@numba.njit(cache=True)
def score_one(
    x,
    rule,
    W,
    b,
    V,
    vmax,
    off,
    off_var,
    value,
    lever,
    cost,
    t_channel,
    t_action,
    stage_mask,
    trigger_mask,
    pred_ptr,
    pred_feat,
    pred_op,
    pred_val,
    cw_ptr,
    cw_feat,
    cw_op,
    cw_val,
    cw_group,
    cw_weight,
    channel_ok,
    action_ok,
    treatment_ok,
    budget_left,
    stage_bit,
    trigger_bit,
    seed,
    n_draws,
    status,
    topk,
    topk_score,
):
    """Score every treatment for one decision; fills status/topk/topk_score, returns (t, p)."""
    return _score_row(
        x,
        rule,
        np.empty(0, dtype=np.float32),
        W,
        b,
        V,
        vmax,
        off,
        off_var,
        value,
        lever,
        cost,
        t_channel,
        t_action,
        stage_mask,
        trigger_mask,
        pred_ptr,
        pred_feat,
        pred_op,
        pred_val,
        cw_ptr,
        cw_feat,
        cw_op,
        cw_val,
        cw_group,
        cw_weight,
        channel_ok,
        action_ok,
        treatment_ok,
        budget_left,
        stage_bit,
        trigger_bit,
        np.uint64(seed),
        n_draws,
        status,
        topk,
        topk_score,
    )


@numba.njit(cache=True)
def score_batch(
    X,
    R,
    W,
    b,
    V,
    vmax,
    off,
    off_var,
    value,
    lever,
    cost,
    t_channel,
    t_action,
    stage_mask,
    trigger_mask,
    pred_ptr,
    pred_feat,
    pred_op,
    pred_val,
    cw_ptr,
    cw_feat,
    cw_op,
    cw_val,
    cw_group,
    cw_weight,
    channel_ok,
    action_ok,
    treatment_ok,
    budget_left,
    stage_bit,
    trigger_bit,
    seeds,
    n_draws,
    status,
    topk,
    topk_score,
    chosen,
    prob,
):
    """Score B decisions at once: all logits by one GEMM, then per-row arbitration."""
    logits = np.dot(X, W.T)
    for r in range(X.shape[0]):
        c, p = _score_row(
            X[r],
            R[r],
            logits[r],
            W,
            b,
            V,
            vmax,
            off[r],
            off_var[r],
            value,
            lever,
            cost,
            t_channel,
            t_action,
            stage_mask,
            trigger_mask,
            pred_ptr,
            pred_feat,
            pred_op,
            pred_val,
            cw_ptr,
            cw_feat,
            cw_op,
            cw_val,
            cw_group,
            cw_weight,
            channel_ok[r],
            action_ok[r],
            treatment_ok[r],
            budget_left,
            stage_bit[r],
            trigger_bit[r],
            np.uint64(seeds[r]),
            n_draws,
            status[r],
            topk[r],
            topk_score[r],
        )
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
    """The i-th standard normal of the kernels' generator (Box–Muller on uniform pairs)."""
    pair = i - i % 2
    u1, u2 = _uniform_py(seed, pair), _uniform_py(seed, pair + 1)
    r = math.sqrt(-2.0 * math.log(u1))
    return r * (math.cos(2.0 * math.pi * u2) if i % 2 == 0 else math.sin(2.0 * math.pi * u2))


_OPS_PY = (
    lambda v, c: v < c,
    lambda v, c: v <= c,
    lambda v, c: v > c,
    lambda v, c: v >= c,
    lambda v, c: v == c,
    lambda v, c: v != c,
)


def score_one_py(
    x,
    rule,
    W,
    b,
    V,
    vmax,
    off,
    off_var,
    value,
    lever,
    cost,
    t_channel,
    t_action,
    stage_mask,
    trigger_mask,
    pred_ptr,
    pred_feat,
    pred_op,
    pred_val,
    cw_ptr,
    cw_feat,
    cw_op,
    cw_val,
    cw_group,
    cw_weight,
    channel_ok,
    action_ok,
    treatment_ok,
    budget_left,
    stage_bit,
    trigger_bit,
    seed,
    n_draws,
    status,
    topk,
    topk_score,
):
    """Plain-Python twin of `score_one` (same arguments, same outputs), without pruning."""
    n = W.shape[0]
    seed = int(seed)
    scored: list[tuple[float, int, float, float, float]] = []  # (mean, t, logit, m, optimistic)
    x2sum = sum(float(v) * float(v) for v in x)
    for t in range(n):
        a = int(t_action[t])
        if not stage_mask[t] & stage_bit:
            st = 1
        elif not trigger_mask[t] & trigger_bit:
            st = 2
        elif not channel_ok[t_channel[t]]:
            st = 3
        elif not action_ok[a] or not treatment_ok[t]:
            st = 4
        elif budget_left[a] <= 0:
            st = 5
        elif not all(
            _OPS_PY[pred_op[i]](float(rule[pred_feat[i]]), float(pred_val[i]))
            for i in range(pred_ptr[t], pred_ptr[t + 1])
        ):
            st = 6
        else:
            st = 0
        status[t] = st
        if st:
            continue
        lg = (
            sum(float(W[t, i]) * float(x[i]) for i in range(x.shape[0]))
            + float(b[t])
            + float(off[t])
        )
        m = float(value[t]) * float(lever[t])
        groups: dict[int, tuple[bool, float]] = {}
        for i in range(cw_ptr[t], cw_ptr[t + 1]):
            ok, w = groups.get(int(cw_group[i]), (True, float(cw_weight[i])))
            held = _OPS_PY[cw_op[i]](float(rule[cw_feat[i]]), float(cw_val[i]))
            groups[int(cw_group[i])] = (ok and held, w)
        for ok, w in groups.values():
            if ok:
                m *= w
        opt = lg + 2.0 * math.sqrt(float(vmax[t]) * x2sum + float(off_var[t]))
        scored.append(
            (
                m / (1.0 + math.exp(-lg)) - float(cost[t]),
                t,
                lg,
                m,
                m / (1.0 + math.exp(-opt)) - float(cost[t]),
            )
        )
    ranked = sorted(scored, key=lambda s: (-s[0], s[1]))
    for j in range(topk.shape[0]):
        topk[j] = ranked[j][1] if j < len(ranked) else -1
        topk_score[j] = ranked[j][0] if j < len(ranked) else -np.inf
    cand = sorted(scored, key=lambda s: (-s[4], s[1]))[:CANDIDATES]
    n_ok = len(scored)
    if n_ok == 0:
        return -1, 0.0
    c = len(cand)
    x2 = [float(v) * float(v) for v in x]
    sd = [
        math.sqrt(max(sum(float(V[t, i]) * x2[i] for i in range(len(x2))) + float(off_var[t]), 0.0))
        for _, t, _, _, _ in cand
    ]
    z = [splitmix_normal_py(seed, i) for i in range(n_draws * c)]
    counts = [0.0] * c
    for d in range(n_draws):
        draws = [
            m / (1.0 + math.exp(-(lg + sd[j] * z[d * c + j]))) - float(cost[t])
            for j, (_, t, lg, m, _) in enumerate(cand)
        ]
        counts[max(range(c), key=lambda j: (draws[j], -j))] += 1.0
    u = _uniform_py(seed, 1 << 30)
    if u < EPSILON:
        eligible = [t for t in range(n) if status[t] == 0]
        chosen = eligible[min(int(u / EPSILON * n_ok), n_ok - 1)]
    else:
        v = (u - EPSILON) / (1.0 - EPSILON) * n_draws
        acc, chosen = 0.0, cand[-1][1]
        for j in range(c):
            acc += counts[j]
            if v < acc:
                chosen = cand[j][1]
                break
    prob = EPSILON / n_ok + sum(
        (1.0 - EPSILON) * counts[j] / n_draws for j in range(c) if cand[j][1] == chosen
    )
    return chosen, prob


def score_batch_py(
    X,
    R,
    W,
    b,
    V,
    vmax,
    off,
    off_var,
    value,
    lever,
    cost,
    t_channel,
    t_action,
    stage_mask,
    trigger_mask,
    pred_ptr,
    pred_feat,
    pred_op,
    pred_val,
    cw_ptr,
    cw_feat,
    cw_op,
    cw_val,
    cw_group,
    cw_weight,
    channel_ok,
    action_ok,
    treatment_ok,
    budget_left,
    stage_bit,
    trigger_bit,
    seeds,
    n_draws,
    status,
    topk,
    topk_score,
    chosen,
    prob,
):
    """Plain-Python twin of `score_batch`: `score_one_py` row by row."""
    for r in range(X.shape[0]):
        chosen[r], prob[r] = score_one_py(
            X[r],
            R[r],
            W,
            b,
            V,
            vmax,
            off[r],
            off_var[r],
            value,
            lever,
            cost,
            t_channel,
            t_action,
            stage_mask,
            trigger_mask,
            pred_ptr,
            pred_feat,
            pred_op,
            pred_val,
            cw_ptr,
            cw_feat,
            cw_op,
            cw_val,
            cw_group,
            cw_weight,
            channel_ok[r],
            action_ok[r],
            treatment_ok[r],
            budget_left,
            stage_bit[r],
            trigger_bit[r],
            int(seeds[r]),
            n_draws,
            status[r],
            topk[r],
            topk_score[r],
        )


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel signature used at run time."""
    from engine.scorer import Scorer

    Scorer.warm_up()
