"""Repurchase forecasts on real purchase histories: Journey's model against BG/NBD and RFM.

Data: CDNOW master (Fader, Hardie & Lee 2005): 23,570 customers who first bought from the
CD retailer in Q1 1997, every order until 1998-06-30; the file ships in the `lifetimes`
package (read in place, lifetimes is not imported for it). Orders on one day are one order,
as in the paper and `lifetimes.utils`.

Split on event time: calibration is every order up to 1997-09-30 (day 272, the paper's
39 weeks); each customer is scored as of that day. Labels: did the customer order again
within 30 days (Journey's horizon) and within the paper's 39-week holdout (to 1998-06-30)?

Scored side by side in one run:

* Journey, **streamed**: every calibration order fed in event-time order through
  `RepurchaseModel` with its defaults (4,000-customer sample, refit every 2,000 orders); it
  is scored with whatever its last periodic refit left, as the engine would be.
* Journey, **batch**: the same model with every customer in its sample, refitted once at
  the cut; and its BG/NBD part alone (`engine.bgnbd`, the same fit, no correction).
* `lifetimes.BetaGeoFitter` (the reference implementation) on `lifetimes.utils`'
  calibration summaries: ranked by its expected orders, and its P(≥ 1 order) from its
  P(alive) × the closed-form no-order term.
* RFM (the R·100 + F·10 + M quintile code), recency alone, frequency alone.

Settings were chosen on an earlier split (cut 1997-06-30, 30- and 90-day labels, which end
before 1997-09-30); it is run and reported too (`tune`) so the choice can be checked.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from engine.bgnbd import BGNBDParams
from engine.repurchase import DAY, PurchaseSummary, RepurchaseModel

__all__ = ["CUT_DAY", "HORIZONS", "Transactions", "auc", "bench_repurchase", "delong",
           "load_cdnow", "replay", "summarize", "table"]

START = dt.date(1997, 1, 1)
EPOCH = dt.datetime(1997, 1, 1, tzinfo=dt.UTC).timestamp()
CUT_DAY = 272.0  # 1997-09-30
TUNE_CUT_DAY = 180.0  # 1997-06-30
HORIZONS = (30.0, 273.0)
TUNE_HORIZONS = (30.0, 90.0)


@dataclass(frozen=True, slots=True)
class Transactions:
    """One row per customer-day with an order, in event-time order (day, then customer)."""

    customer: NDArray[np.int64]
    day: NDArray[np.float64]
    revenue: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Summaries:
    """Per-customer calibration summaries (days since 1997-01-01)."""

    ids: NDArray[np.int64]
    orders: NDArray[np.float64]
    first: NDArray[np.float64]
    last: NDArray[np.float64]
    revenue: NDArray[np.float64]


def cdnow_path() -> str:
    """Where the installed `lifetimes` package keeps CDNOW_master.txt."""
    try:
        dist = importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError as e:
        msg = "the CDNOW data ships in `lifetimes`: pip install -e '.[dev]' (lifetimes==0.11.3)"
        raise RuntimeError(msg) from e
    return str(dist.locate_file("lifetimes/datasets/CDNOW_master.txt"))


def load_cdnow(path: str | None = None) -> Transactions:
    """CDNOW master, same-day orders merged, sorted by (day, customer)."""
    raw = np.loadtxt(path or cdnow_path(), skiprows=1, dtype=np.float64)
    dates = raw[:, 1].astype(np.int64)
    ordinal = np.array([dt.date(d // 10000, d // 100 % 100, d % 100).toordinal()
                        for d in np.unique(dates)])
    day = (ordinal - START.toordinal())[np.searchsorted(np.unique(dates), dates)]
    key = raw[:, 0].astype(np.int64) * 1000 + day
    uniq, inv = np.unique(key, return_inverse=True)
    revenue = np.bincount(inv, weights=raw[:, 3])
    customer, days = uniq // 1000, (uniq % 1000).astype(np.float64)
    order = np.lexsort((customer, days))
    return Transactions(customer[order], days[order], revenue[order])


def summarize(tx: Transactions, cut_day: float) -> Summaries:
    """Each customer's orders on or before `cut_day`."""
    m = tx.day <= cut_day
    c, d, r = tx.customer[m], tx.day[m], tx.revenue[m]
    ids, idx = np.unique(c, return_inverse=True)
    first = np.full(ids.size, np.inf)
    last = np.full(ids.size, -np.inf)
    np.minimum.at(first, idx, d)
    np.maximum.at(last, idx, d)
    return Summaries(ids, np.bincount(idx).astype(np.float64), first, last,
                     np.bincount(idx, weights=r))


def holdout_orders(tx: Transactions, ids: NDArray[np.int64], cut_day: float,
                   horizon: float) -> NDArray[np.float64]:
    """Orders of each customer in `ids` in (cut, cut + horizon]."""
    m = (tx.day > cut_day) & (tx.day <= cut_day + horizon) & np.isin(tx.customer, ids)
    return np.bincount(np.searchsorted(ids, tx.customer[m]), minlength=ids.size).astype(float)


def auc(score: NDArray[np.float64], y: NDArray[np.bool_]) -> float:
    """ROC AUC by the rank-sum statistic (ties count one half)."""
    r = rankdata(score)
    n1 = int(y.sum())
    n0 = y.size - n1
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def delong(a: NDArray[np.float64], b: NDArray[np.float64],
           y: NDArray[np.bool_]) -> tuple[float, float]:
    """AUC(a) − AUC(b) on the same labels and its standard error (DeLong et al. 1988)."""
    n1, n0 = int(y.sum()), int((~y).sum())
    v10, v01 = [], []
    for s in (a, b):
        r = rankdata(s)
        v10.append((r[y] - rankdata(s[y])) / n0)  # per positive: share of negatives below
        v01.append(1.0 - (r[~y] - rankdata(s[~y])) / n1)  # per negative: positives above
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    var = ((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / n1
           + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n0)
    return float(v10[0].mean() - v10[1].mean()), float(np.sqrt(max(var, 0.0)))


def ece(p: NDArray[np.float64], y: NDArray[np.bool_], bins: int = 10) -> float:
    """Expected calibration error over equal-count bins of the prediction."""
    order = np.argsort(p, kind="stable")
    return float(sum(abs(p[b].mean() - y[b].mean()) * b.size
                     for b in np.array_split(order, bins)) / p.size)


def rfm_score(s: Summaries, now: float) -> NDArray[np.float64]:
    """The R·100 + F·10 + M code of quintiles (5 = best; ties share a quintile)."""
    def quintile(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.ceil(5.0 * rankdata(v) / v.size)
    return (100 * quintile(-(now - s.last)) + 10 * quintile(s.orders)
            + quintile(s.revenue / s.orders))


def replay(tx: Transactions, cut_day: float, model: RepurchaseModel) -> Summaries:
    """Feed every order up to `cut_day` in event-time order, as the core would."""
    book: dict[int, PurchaseSummary] = {}
    m = tx.day <= cut_day
    for c, d, r in zip(tx.customer[m].tolist(), tx.day[m].tolist(), tx.revenue[m].tolist(),
                       strict=True):
        ts = EPOCH + d * DAY
        before = book.get(c)
        after = PurchaseSummary.first(ts, r) if before is None else before.after_order(ts, r)
        book[c] = after
        model.observe_order(str(c), after)
    model.advance_to(EPOCH + cut_day * DAY)
    return summarize(tx, cut_day)


def _journey(model: RepurchaseModel, s: Summaries, now: float,
             horizon: float) -> dict[str, NDArray[np.float64]]:
    return model.predict_many(s.orders, EPOCH + s.first * DAY, EPOCH + s.last * DAY,
                              s.revenue, EPOCH + now * DAY, horizon)


def _lifetimes(tx: Transactions, cut_day: float, horizons: tuple[float, ...],
               s: Summaries) -> dict[float, dict[str, NDArray[np.float64]]]:
    """lifetimes' BG/NBD on its own calibration summaries, aligned to `s.ids`."""
    import pandas as pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes 0.11 sets pandas options pandas 3 deprecates
        from lifetimes import BetaGeoFitter
        from lifetimes.utils import summary_data_from_transaction_data
        frame = pd.DataFrame({"id": tx.customer, "date": [START + dt.timedelta(days=int(d))
                                                           for d in tx.day]})
        frame = frame[tx.day <= cut_day]
        summ = summary_data_from_transaction_data(
            frame, "id", "date", observation_period_end=START + dt.timedelta(days=int(cut_day)))
        summ = summ.loc[s.ids]
        if not (np.allclose(summ["frequency"], s.orders - 1)
                and np.allclose(summ["recency"], s.last - s.first)
                and np.allclose(summ["T"], cut_day - s.first)):
            msg = "lifetimes' calibration summaries differ from ours; check summarize()"
            raise RuntimeError(msg)
        fitter = BetaGeoFitter().fit(summ["frequency"], summ["recency"], summ["T"])
    x, t_x, T = (summ[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
    out: dict[float, dict[str, NDArray[np.float64]]] = {}
    for h in horizons:
        alive = np.asarray(fitter.conditional_probability_alive(x, t_x, T), dtype=np.float64)
        none_if_alive = ((alpha + T) / (alpha + T + h)) ** (r + x)
        out[h] = {"p_repurchase": alive * (1.0 - none_if_alive),
                  "expected_orders": np.asarray(
                      fitter.conditional_expected_number_of_purchases_up_to_time(h, x, t_x, T),
                      dtype=np.float64)}
    out[0.0] = {"params": np.array([r, alpha, fitter.params_["a"], fitter.params_["b"]])}
    return out


def _row(name: str, score: NDArray[np.float64], y: NDArray[np.bool_],
         counts: NDArray[np.float64], p: NDArray[np.float64] | None = None,
         expected: NDArray[np.float64] | None = None,
         against: NDArray[np.float64] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"model": name, "auc": auc(score, y), "actual_rate": float(y.mean()),
                           "actual_orders": float(counts.sum())}
    if against is not None:  # ΔAUC of Journey (streamed) over this row, with its DeLong SE
        d, se = delong(against, score, y)
        row |= {"delta_streamed": d, "delta_se": se}
    if p is not None:
        row |= {"mean_p": float(p.mean()), "ece": ece(p, y)}
    if expected is not None:
        row["expected_orders"] = float(expected.sum())
    return row


def _split(tx: Transactions, cut_day: float, horizons: tuple[float, ...],
           reference: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    streamed = RepurchaseModel()
    s = replay(tx, cut_day, streamed)
    t_stream = time.perf_counter() - t0
    batch = RepurchaseModel(sample_size=s.ids.size, refit_every=10**9)
    replay(tx, cut_day, batch)
    batch.refit()
    ref = _lifetimes(tx, cut_day, horizons, s) if reference else {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for h in horizons:
        counts = holdout_orders(tx, s.ids, cut_day, h)
        y = counts > 0
        st, bt = _journey(streamed, s, cut_day, h), _journey(batch, s, cut_day, h)
        x, t_x, T = s.orders - 1, s.last - s.first, cut_day - s.first
        bg: BGNBDParams = batch.bgnbd
        bg_p = bg.p_any(x, t_x, T, h)
        j = st["p_repurchase"]
        rr = [_row("Journey RepurchaseModel, streamed", j, y, counts, j, st["expected_orders"]),
              _row("Journey RepurchaseModel, batch", bt["p_repurchase"], y, counts,
                   bt["p_repurchase"], bt["expected_orders"], j),
              _row("engine.bgnbd BG/NBD alone (batch fit), P(≥1)", bg_p, y, counts, bg_p,
                   bg.expected(x, t_x, T, h), j)]
        if reference:
            lt = ref[h]
            rr += [_row("lifetimes BG/NBD, ranked by E[orders]", lt["expected_orders"], y,
                        counts, None, lt["expected_orders"], j),
                   _row("lifetimes BG/NBD, P(≥1)", lt["p_repurchase"], y, counts,
                        lt["p_repurchase"], lt["expected_orders"], j)]
        rr += [_row("RFM quintile code", rfm_score(s, cut_day), y, counts, against=j),
               _row("recency alone", -(cut_day - s.last), y, counts, against=j),
               _row("frequency alone", s.orders, y, counts, against=j)]
        rows[f"{h:g}"] = rr
    return {"cut_day": cut_day, "customers": int(s.ids.size), "rows": rows,
            "streamed_fits": streamed.n_fits, "streamed_labels": streamed.n_labels,
            "streamed_seconds": t_stream,
            "batch_bgnbd": [batch.bgnbd.r, batch.bgnbd.alpha, batch.bgnbd.a, batch.bgnbd.b],
            "streamed_bgnbd": [streamed.bgnbd.r, streamed.bgnbd.alpha, streamed.bgnbd.a,
                               streamed.bgnbd.b],
            "lifetimes_bgnbd": ref[0.0]["params"].tolist() if reference else None}


def bench_repurchase(*, tune: bool = True) -> dict[str, Any]:
    """Evaluation split (and the earlier tuning split); every figure from one run."""
    t0 = time.perf_counter()
    tx = load_cdnow()
    out: dict[str, Any] = {"dataset": "CDNOW master (lifetimes/datasets/CDNOW_master.txt)",
                           "orders": int(tx.day.size),
                           "eval": _split(tx, CUT_DAY, HORIZONS, reference=True)}
    if tune:
        out["tune"] = _split(tx, TUNE_CUT_DAY, TUNE_HORIZONS, reference=False)
    out["seconds"] = time.perf_counter() - t0
    return out


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(results: dict[str, Any], split: str = "eval") -> str:
    """Markdown: one block per horizon."""
    r = results[split]
    cut = START + dt.timedelta(days=int(r["cut_day"]))
    lines = [f"{results['dataset']}: {r['customers']:,} customers, scored as of {cut} "
             f"({split} split)", "",
             "| horizon | model | AUC | streamed − this (95% CI) | mean P | actual rate | ECE "
             "| expected orders | actual orders |", "|---|---|---|---|---|---|---|---|---|"]
    for h, rows in r["rows"].items():
        for row in rows:
            d = row.get("delta_streamed")
            delta = "—" if d is None else (f"{d:+.4f} ({d - 1.96 * row['delta_se']:+.4f}, "
                                           f"{d + 1.96 * row['delta_se']:+.4f})")
            lines.append(f"| {h} d | {row['model']} | {row['auc']:.4f} | {delta} | "
                         f"{_fmt(row.get('mean_p'), '.4f')} | {row['actual_rate']:.4f} | "
                         f"{_fmt(row.get('ece'), '.4f')} | "
                         f"{_fmt(row.get('expected_orders'), ',.0f')} | "
                         f"{row['actual_orders']:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    res = bench_repurchase()
    print(table(res))
    print()
    print(table(res, "tune"))
    ev = res["eval"]
    print(f"\nBG/NBD (r, α days, a, b): batch {np.round(ev['batch_bgnbd'], 4).tolist()}, "
          f"streamed {np.round(ev['streamed_bgnbd'], 4).tolist()}, lifetimes "
          f"{np.round(ev['lifetimes_bgnbd'], 4).tolist()}; streamed: {ev['streamed_fits']} "
          f"refits, {ev['streamed_labels']:,} labelled snapshots at the last, replay "
          f"{ev['streamed_seconds']:.1f} s; total {res['seconds']:.1f} s")
