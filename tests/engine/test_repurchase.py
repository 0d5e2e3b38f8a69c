"""BG/NBD closed forms and fits, and the online repurchase model, on simulated and real data."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import hyp2f1

from bench.repurchase import (
    EPOCH,
    Transactions,
    auc,
    delong,
    holdout_orders,
    load_cdnow,
    replay,
    summarize,
)
from engine.bgnbd import BGNBDParams, GammaGammaParams, fit_bgnbd, fit_gamma_gamma
from engine.repurchase import DAY, PurchaseSummary, RepurchaseModel
from features.errors import ConfigError

# Fader, Hardie & Lee (2005), CDNOW, time unit weeks.
PAPER = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def simulate(params: BGNBDParams, T: np.ndarray, seed: int) -> np.ndarray:
    """Draw BG/NBD histories observed over (0, T]; returns per-customer (x, t_x) and
    the orders in the next 30 time units (columns x, t_x, future)."""
    rng = np.random.default_rng(seed)
    n = T.size
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    future = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t[alive] += rng.exponential(1.0 / lam[alive])
        alive &= t <= T + 30.0
        past = alive & (t <= T)
        x[past] += 1
        t_x[past] = t[past]
        future[alive & (t > T)] += 1
        alive &= rng.random(n) >= p  # drop out after an order
    return np.column_stack([x, t_x, future])


# ---------------------------------------------------------------- closed forms


def test_paper_customer_expected_orders_and_p_alive() -> None:
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 weeks, next 39 weeks.
    assert PAPER.expected(2, 30.43, 38.86, 39.0) == pytest.approx(1.226, abs=1e-3)
    assert PAPER.p_alive(2, 30.43, 38.86) == pytest.approx(0.7266, abs=1e-3)
    p_alive, p_any, expected = PAPER.one(2, 30.43, 38.86, 39.0)
    assert expected == pytest.approx(float(PAPER.expected(2, 30.43, 38.86, 39.0)), rel=1e-12)
    assert p_alive == pytest.approx(float(PAPER.p_alive(2, 30.43, 38.86)), rel=1e-12)
    assert p_any == pytest.approx(float(PAPER.p_any(2, 30.43, 38.86, 39.0)), rel=1e-12)


def test_hand_computed_values_for_a_customer_without_repeats() -> None:
    r, alpha, a, b = PAPER.r, PAPER.alpha, PAPER.a, PAPER.b
    T, t = 20.0, 10.0
    assert PAPER.p_alive(0, 0, T) == 1.0
    assert PAPER.p_any(0, 0, T, t) == pytest.approx(1 - ((alpha + T) / (alpha + T + t)) ** r)
    # The paper's equation (9), E[X(t)] of a new customer, in its original 2F1 form.
    e_new = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                                    * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    assert PAPER.expected_new(t) == pytest.approx(e_new, rel=1e-9)
    # Equation (10) in its original form for x > 0 (the code uses Pfaff's transformation).
    x, t_x = 3.0, 12.0
    top = ((a + b + x - 1) / (a - 1)) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                         * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t)))
    bottom = 1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    assert PAPER.expected(x, t_x, T, t) == pytest.approx(top / bottom, rel=1e-9)


def test_closed_forms_match_simulation() -> None:
    params = BGNBDParams(r=0.8, alpha=20.0, a=0.9, b=3.0)
    sim = simulate(params, np.zeros(200_000), seed=3)  # acquired at 0, watched 30 units
    assert (sim[:, 2] > 0).mean() == pytest.approx(float(params.p_any(0, 0, 0, 30.0)), abs=0.005)
    assert sim[:, 2].mean() == pytest.approx(params.expected_new(30.0), rel=0.02)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0, 0), (0, 0, 1e6), (5, 40, 40), (5, 0, 0),
                                              (1e4, 300, 300), (1e4, 1, 1e6), (1, 0, 1e9)])
def test_edge_cases_are_finite(x: float, t_x: float, T: float) -> None:
    for params in (PAPER, BGNBDParams(r=0.5, alpha=30.0, a=1.0, b=2.0)):  # a = 1: the pole
        values = (params.p_alive(x, t_x, T), params.p_any(x, t_x, T, 30.0),
                  params.expected(x, t_x, T, 30.0), *params.one(x, t_x, T, 30.0))
        assert all(np.isfinite(v) and v >= 0 for v in values), values
        assert 0 <= float(params.p_any(x, t_x, T, 30.0)) <= float(params.p_alive(x, t_x, T)) <= 1


# ---------------------------------------------------------------- fitting


def test_fit_recovers_simulated_parameters() -> None:
    true = BGNBDParams(r=0.5, alpha=25.0, a=0.8, b=2.5)
    T = np.random.default_rng(1).uniform(100.0, 400.0, 8000)
    sim = simulate(true, T, seed=2)
    fit = fit_bgnbd(sim[:, 0], sim[:, 1], T)
    for got, want in zip((fit.r, fit.alpha, fit.a, fit.b), (0.5, 25.0, 0.8, 2.5), strict=True):
        assert got == pytest.approx(want, rel=0.2)
    # The likelihood is maximised: the truth is no better than the fit.
    assert fit.log_likelihood(sim[:, 0], sim[:, 1], T).sum() >= (
        true.log_likelihood(sim[:, 0], sim[:, 1], T).sum())


@pytest.fixture(scope="module")
def cdnow() -> Transactions:
    return load_cdnow()


def test_fit_matches_lifetimes_on_cdnow(cdnow: Transactions) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes 0.11 sets a pandas option pandas 3 deprecates
        from lifetimes import BetaGeoFitter
    s = summarize(cdnow, 272.0)
    x, t_x, T = s.orders - 1, s.last - s.first, 272.0 - s.first
    ours = fit_bgnbd(x, t_x, T)
    ref = BetaGeoFitter().fit(x, t_x, T).params_
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(float(ref[name]), rel=2e-3)


def test_gamma_gamma_recovers_the_mean_order_value() -> None:
    rng = np.random.default_rng(5)
    p, q, gamma = 6.0, 4.0, 15.0
    nu = rng.gamma(q, 1.0 / gamma, 6000)
    n = 1 + rng.poisson(3.0, 6000)
    m = np.array([rng.gamma(p, 1.0 / v, k).mean() for v, k in zip(nu, n, strict=True)])
    fit = fit_gamma_gamma(n, m)
    assert fit.mean == pytest.approx(GammaGammaParams(p, q, gamma).mean, rel=0.05)
    assert fit.p == pytest.approx(p, rel=0.25) and fit.q == pytest.approx(q, rel=0.25)


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        fit_bgnbd([], [], [])
    with pytest.raises(ValueError, match="t_x ≤ T"):
        fit_bgnbd([1.0], [5.0], [2.0])


# ---------------------------------------------------------------- the online model


def _stream(n_customers: int, seed: int) -> list[tuple[str, PurchaseSummary]]:
    """Orders of simulated customers (acquired over 60 days, watched 300) in time order."""
    rng = np.random.default_rng(seed)
    params = BGNBDParams(r=0.6, alpha=20.0, a=0.8, b=2.5)
    events = []
    for c in range(n_customers):
        start = rng.uniform(0, 60)
        lam, p = rng.gamma(params.r, 1 / params.alpha), rng.beta(params.a, params.b)
        t = start
        while t <= 300.0:  # BG/NBD: a customer may drop out after each repeat order
            events.append((t, f"c{c}", float(rng.gamma(4.0, 10.0))))
            if t > start and rng.random() < p:
                break
            t += rng.exponential(1 / lam)
    events.sort()
    book: dict[str, PurchaseSummary] = {}
    out = []
    for t, key, value in events:
        ts = EPOCH + t * DAY
        s = book.get(key)
        book[key] = PurchaseSummary.first(ts, value) if s is None else s.after_order(ts, value)
        out.append((key, book[key]))
    return out


def _feed(model: RepurchaseModel, stream: list[tuple[str, PurchaseSummary]]) -> None:
    for key, summary in stream:
        model.observe_order(key, summary)


PROBES = [None, PurchaseSummary(1, EPOCH, EPOCH, 20.0),
          PurchaseSummary(4, EPOCH + 10 * DAY, EPOCH + 250 * DAY, 180.0),
          PurchaseSummary(2, EPOCH + 5 * DAY, EPOCH + 6 * DAY, 0.0)]


def test_pickling_mid_stream_gives_the_same_model() -> None:
    stream = _stream(1000, seed=11)
    a = RepurchaseModel(sample_size=500, refit_every=400)
    _feed(a, stream[: len(stream) // 2])
    b = pickle.loads(pickle.dumps(a))
    for m in (a, b):
        _feed(m, stream[len(stream) // 2:])
    now = EPOCH + 300 * DAY
    assert a.n_fits > 2 and a.weights is not None
    assert [a.predict(s, now) for s in PROBES] == [b.predict(s, now) for s in PROBES]


def test_seed_fixes_the_sample_and_so_the_fit() -> None:
    stream = _stream(800, seed=12)
    runs = []
    for seed in (7, 7, 8):
        m = RepurchaseModel(seed=seed, sample_size=300, refit_every=1000)
        _feed(m, stream)
        runs.append((m.bgnbd, m.predict(PROBES[2], EPOCH + 300 * DAY)))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


def test_full_sample_equals_a_batch_fit_on_the_summaries() -> None:
    stream = _stream(800, seed=13)
    m = RepurchaseModel(sample_size=10_000, refit_every=10**9)
    _feed(m, stream)
    m.advance_to(EPOCH + 300 * DAY)
    m.refit()
    last = {key: s for key, s in stream}
    x = np.array([s.orders - 1 for s in last.values()], dtype=float)
    first = np.array([s.first_order_ts for s in last.values()]) / DAY
    t_x = np.array([s.last_order_ts for s in last.values()]) / DAY - first
    assert m.sampled == len(last)
    batch = fit_bgnbd(x, t_x, EPOCH / DAY + 300 - first)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(m.bgnbd, name) == pytest.approx(getattr(batch, name), rel=1e-4)


def test_labels_come_from_orders_inside_the_horizon_after_each_snapshot() -> None:
    m = RepurchaseModel(horizon_days=30.0, snapshot_every_days=7.0, lookback_days=70.0)
    days = [0.0, 10.0, 50.0, 51.0, 120.0]
    s = PurchaseSummary.first(days[0] * DAY, 10.0)
    m.observe_order("k", s)
    for d in days[1:]:
        s = s.after_order(d * DAY, 10.0)
        m.observe_order("k", s)
    m.advance_to(130.0 * DAY)
    X, y = m.training_set()
    grid = [98.0 - 7 * j for j in range(10)]  # floor((130 − 30) / 7) · 7 = 98
    want_y = [any(g < d <= g + 30 for d in days) for g in grid]
    want_x = [sum(d <= g for d in days) - 1 for g in grid]
    want_gap = [g - max(d for d in days if d <= g) for g in grid]
    assert y.tolist() == [float(v) for v in want_y]
    assert np.expm1(X[:, 1]) == pytest.approx(want_x)
    assert np.expm1(X[:, 2]) == pytest.approx(want_gap)
    assert np.expm1(X[:, 3]) == pytest.approx(grid)


def test_predictions_are_finite_at_the_edges() -> None:
    m = RepurchaseModel(sample_size=500, refit_every=400)
    _feed(m, _stream(1000, seed=14))
    now = EPOCH + 300 * DAY
    edges = [*PROBES, PurchaseSummary(1, now, now, 5.0),  # T = 0
             PurchaseSummary(3, EPOCH, now + DAY, 30.0),  # an order after "now"
             PurchaseSummary(10_000, EPOCH - 1e6 * DAY, EPOCH, 1e6)]  # huge x and T
    for s in edges:
        for h in (1.0, 30.0, 365.0):
            e = m.predict(s, now, h)
            assert all(math.isfinite(v) for v in (e.p_repurchase, e.expected_orders, e.p_alive,
                                                  e.expected_value)), (s, e)
            assert 0.0 <= e.p_repurchase <= 1.0 and 0.0 <= e.p_alive <= 1.0
            many = m.predict_many([s.orders if s else 0], [s.first_order_ts if s else now],
                                  [s.last_order_ts if s else now], [s.revenue if s else 0],
                                  now, h)
            assert many["p_repurchase"][0] == pytest.approx(e.p_repurchase, rel=1e-9)
            assert many["expected_value"][0] == pytest.approx(e.expected_value, rel=1e-9)
    fresh = RepurchaseModel().predict(None, now)  # no data at all: the CDNOW prior
    assert fresh.p_alive == 1.0 and 0.0 < fresh.p_repurchase < 1.0


def test_forget_drops_the_customer_and_bad_input_is_refused() -> None:
    m = RepurchaseModel()
    m.observe_order("gone", PurchaseSummary.first(EPOCH, 10.0))
    m.observe_order("kept", PurchaseSummary.first(EPOCH, 10.0))
    m.forget("gone")
    assert m.sampled == 1
    with pytest.raises(ValueError, match="orders ≥ 1"):
        m.observe_order("x", PurchaseSummary(0, EPOCH, EPOCH, 0.0))
    with pytest.raises(ConfigError, match="horizon_days"):
        RepurchaseModel(horizon_days=0.0)
    with pytest.raises(ConfigError, match="sample_size"):
        RepurchaseModel(sample_size=0)


def test_streamed_on_cdnow_beats_recency_and_is_calibrated(cdnow: Transactions) -> None:
    tx = cdnow
    model = RepurchaseModel()
    s = replay(tx, 272.0, model)
    y = holdout_orders(tx, s.ids, 272.0, 30.0) > 0
    p = model.predict_many(s.orders, EPOCH + s.first * DAY, EPOCH + s.last * DAY, s.revenue,
                           EPOCH + 272.0 * DAY)["p_repurchase"]
    assert model.weights is not None  # the learned correction is in use
    assert auc(p, y) > auc(-(272.0 - s.last), y) + 0.005
    assert p.mean() == pytest.approx(y.mean(), rel=0.1)


def test_delong_difference_and_its_error_match_the_bootstrap() -> None:
    rng = np.random.default_rng(9)
    y = rng.random(3000) < 0.3
    a, b = y + rng.normal(0, 1.5, 3000), y + rng.normal(0, 1.2, 3000)
    d, se = delong(a, b, y)
    assert d == pytest.approx(auc(a, y) - auc(b, y), abs=1e-12)
    boot = []
    for _ in range(200):
        k = rng.integers(0, y.size, y.size)
        boot.append(auc(a[k], y[k]) - auc(b[k], y[k]))
    assert se == pytest.approx(float(np.std(boot)), rel=0.2)
