"""Peer policies for the closed-loop quality benchmark, against Journey's Policy seam.

Every peer implements `engine.policy.Policy`: `choose(choice) -> (treatment, probability)`
over `choice.eligible` (Journey's eligibility, contact policy and budgets decide what is
allowed; the peer decides what is shown), and `learn(choice, treatment, probability,
reward)` with the decision's realized net value (conversion value, or the action's fixed
value, if responded, minus the channel cost). Peers read `choice.x` (the customer vector),
`choice.crosses` (customer × action features) and `choice.catalog` (action attributes).

* `RandomPolicy` — uniform over the eligible treatments.
* `PopularPolicy` — "most popular": greedy on each treatment's smoothed rate of paying
  decisions (reward > 0).
* `LinUCBPolicy` — river's `bandit.LinUCBDisjoint`: one Bayesian linear regression of the net
  value per treatment on x, upper confidence bound.
* `VowpalPolicy` — Vowpal Wabbit `--cb_explore_adf`: shared namespace = x, per action its id,
  channel, kind, category and attributes, plus its `crosses` row; `-q ua` interactions.
* `LogisticTSPolicy` — Thompson sampling over per-treatment Bayesian logistic regressions of
  "this decision paid" on x (Laplace approximation, full covariance, refitted by Newton's
  method on every treatment's data), times a learned value per paying decision, minus cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.policy import Choice

__all__ = ["PEERS", "LinUCBPolicy", "LogisticTSPolicy", "PopularPolicy", "RandomPolicy",
           "VowpalPolicy", "treatment_cost", "treatment_value"]


def treatment_cost(catalog: Any, t: int) -> float:
    """Contact cost of treatment `t` (the catalog's cost row, else its channel's cost)."""
    cost = getattr(catalog, "cost", None)
    if cost is not None:
        return float(cost[t])
    _, channel = catalog.treatment(t)
    return float(catalog.channels[channel].cost)


def treatment_value(catalog: Any, t: int) -> float:
    """The catalog's value prior of one response to treatment `t`."""
    value = getattr(catalog, "value", None)
    if value is not None:
        return float(value[t])
    action, _ = catalog.treatment(t)
    return float(action.value)


class RandomPolicy:
    """Uniform over the eligible treatments (seeded)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def choose(self, choice: Choice) -> tuple[int, float]:
        e = choice.eligible
        return int(e[self._rng.integers(len(e))]), 1.0 / len(e)

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        return None


class PopularPolicy:
    """Greedy on the smoothed paying rate `(paid + 1) / (shown + 2)` of each treatment (an
    untried one starts at 1/2, so each is tried early); ties broken by the seed."""

    name = "most popular"

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._paid: dict[int, float] = {}
        self._shown: dict[int, float] = {}

    def choose(self, choice: Choice) -> tuple[int, float]:
        e = choice.eligible
        rate = np.array([(self._paid.get(int(t), 0.0) + 1.0) / (self._shown.get(int(t), 0.0)
                                                                 + 2.0) for t in e])
        best = np.flatnonzero(rate == rate.max())
        return int(e[best[self._rng.integers(len(best))]]), 1.0 / len(best)

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        self._shown[treatment] = self._shown.get(treatment, 0.0) + 1.0
        self._paid[treatment] = self._paid.get(treatment, 0.0) + float(reward > 0.0)


def _names(choice: Choice) -> tuple[str, ...]:
    """Names of `choice.x` (the catalog's feature space), else positional names."""
    names = getattr(choice, "feature_names", None)
    if names is None:
        features = getattr(choice.catalog, "features", None)
        names = getattr(features, "names", None)
    if names is None or len(names) != len(choice.x):
        return tuple(f"x{i}" for i in range(len(choice.x)))
    return tuple(names)


class LinUCBPolicy:
    """river's LinUCB (disjoint): arms are treatments, the reward is the net value.

    `alpha` is the weights' prior precision and `beta` the reward noise precision of each
    arm's `BayesianLinearRegression`; the bound is mean + one predictive sd.
    """

    name = "river LinUCBDisjoint"

    def __init__(self, seed: int, alpha: float = 1.0, beta: float = 1.0) -> None:
        from river import bandit

        self._bandit = bandit.LinUCBDisjoint(alpha=alpha, beta=beta, seed=seed)
        self.alpha, self.beta = alpha, beta
        self._names: tuple[str, ...] | None = None

    def _context(self, choice: Choice) -> dict[str, float]:
        if self._names is None or len(self._names) != len(choice.x):
            self._names = _names(choice)
        return {n: float(v) for n, v in zip(self._names, choice.x, strict=True) if v != 0.0}

    def choose(self, choice: Choice) -> tuple[int, float]:
        arm = self._bandit.pull([int(t) for t in choice.eligible], context=self._context(choice))
        return int(arm), 1.0  # deterministic given its posterior (ties broken by the seed)

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        self._bandit.update(int(treatment), self._context(choice), float(reward))


def _token(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in str(text))


class VowpalPolicy:
    """Vowpal Wabbit's contextual bandit with action-dependent features (`cb_explore_adf`).

    Shared namespace `u`: the customer vector x. Action namespace `a`: id, channel, kind,
    category, attributes (numbers as values, strings as tokens); namespace `c`: the action's
    `crosses` row. `-q ua` crosses customer and action, so what is learned about a channel,
    a category or a discount carries over to every action that shares it. Costs are
    negated net values; exploration is ε-greedy.
    """

    name = "Vowpal Wabbit cb_explore_adf"

    def __init__(self, seed: int, epsilon: float = 0.05) -> None:
        import vowpalwabbit

        self.epsilon = epsilon
        self._vw = vowpalwabbit.Workspace(
            f"--cb_explore_adf -q ua --epsilon {epsilon} --random_seed {seed} --quiet")
        self._rng = np.random.default_rng(seed)
        self._lines: dict[int, str] = {}
        self._names: tuple[str, ...] | None = None

    def _action_line(self, choice: Choice, t: int) -> str:
        line = self._lines.get(t)
        if line is None:
            action, channel = choice.catalog.treatment(t)
            tokens = [f"id_{_token(action.id)}", f"ch_{_token(channel)}",
                      f"kind_{_token(action.kind)}"]
            if getattr(action, "category", None):
                tokens.append(f"cat_{_token(action.category)}")
            for k, v in sorted((getattr(action, "attributes", None) or {}).items()):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    tokens.append(f"{_token(k)}_{_token(v)}")
                else:
                    tokens.append(f"{_token(k)}:{float(v):.6g}")
            line = self._lines[t] = "|a " + " ".join(tokens)
        crosses = choice.crosses[t] if len(choice.crosses) else ()
        names = getattr(choice, "cross_names", ())
        cells = [f"{_token(n)}:{float(v):.6g}" for n, v in zip(names, crosses, strict=False)
                 if v != 0.0]
        return f"{line} |c {' '.join(cells)}" if cells else line

    def _example(self, choice: Choice, label: tuple[int, float, float] | None = None
                 ) -> list[str]:
        if self._names is None or len(self._names) != len(choice.x):
            self._names = tuple(_token(n) for n in _names(choice))
        shared = "shared |u " + " ".join(
            f"{n}:{float(v):.6g}" for n, v in zip(self._names, choice.x, strict=True)
            if v != 0.0)
        lines = [shared]
        for t in choice.eligible:
            line = self._action_line(choice, int(t))
            if label is not None and label[0] == int(t):
                line = f"0:{label[1]:.6g}:{label[2]:.6g} {line}"
            lines.append(line)
        return lines

    def choose(self, choice: Choice) -> tuple[int, float]:
        pmf = np.asarray(self._vw.predict(self._example(choice)), dtype=np.float64)
        pmf = pmf / pmf.sum()
        j = int(self._rng.choice(len(pmf), p=pmf))
        return int(choice.eligible[j]), float(pmf[j])

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        self._vw.learn(self._example(choice, (int(treatment), -float(reward), probability)))


class _Logistic:
    """Bayesian logistic regression, prior N(0, 1/λ), Laplace posterior N(w, H⁻¹)."""

    __slots__ = ("cov", "n_fit", "prior", "w", "xs", "ys")

    def __init__(self, d: int, prior: float) -> None:
        self.prior = prior
        self.w = np.zeros(d)
        self.cov = np.eye(d) / prior
        self.xs: list[np.ndarray] = []
        self.ys: list[float] = []
        self.n_fit = 0

    def add(self, x: np.ndarray, y: float) -> None:
        self.xs.append(x)
        self.ys.append(y)

    def stale(self, refit: float) -> bool:
        return len(self.xs) - self.n_fit >= max(1.0, refit * self.n_fit)

    def fit(self, iterations: int = 25, tol: float = 1e-6) -> None:
        """MAP by Newton's method from the current mean; covariance = inverse Hessian."""
        x, y = np.asarray(self.xs), np.asarray(self.ys)
        d = x.shape[1]
        w = self.w.copy()
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30.0, 30.0)))
            grad = x.T @ (p - y) + self.prior * w
            hess = (x * (p * (1.0 - p))[:, None]).T @ x + self.prior * np.eye(d)
            step = np.linalg.solve(hess, grad)
            w -= step
            if float(np.max(np.abs(step))) < tol:
                break
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30.0, 30.0)))
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + self.prior * np.eye(d)
        self.w, self.cov = w, np.linalg.inv(hess)
        self.n_fit = len(self.xs)


class LogisticTSPolicy:
    """Thompson sampling on per-treatment Bayesian logistic regressions (Chapelle & Li 2011).

    For each treatment t: P(decision pays | x) = σ(w_t · x) with w_t ~ N(m_t, Σ_t), the
    Laplace approximation of the posterior under a N(0, 1/λ) prior, refitted by Newton's
    method on all of t's data once it has grown by `refit` (10%) since the last fit. The
    value of a paying decision is the running mean of (reward + cost) over t's paying
    decisions, shrunk to the catalog's value prior with `prior_weight` pseudo-observations.
    A decision draws the logit of every eligible treatment from its posterior predictive
    N(m_t·x, xᵀΣ_t x) — exactly the Thompson draw of w_t projected on x — and picks the
    largest σ(draw) × value − cost. The probability reported is the share of `n_draws`
    independent draws in which the chosen treatment wins (the first draw decides).

    Defaults: prior precision 10 and unscaled posterior draws, chosen on the tuning seeds
    (7, 11) from precision {1, 10, 50} × draw scale {1, 0.3}; precision 1 over-explores
    with ~80 features and a few paying decisions per treatment.
    """

    name = "logistic Thompson sampling"

    def __init__(self, seed: int, prior: float = 10.0, refit: float = 0.1,
                 prior_weight: float = 2.0, n_draws: int = 32, scale: float = 1.0) -> None:
        self._rng = np.random.default_rng(seed)
        self.prior, self.refit, self.scale = prior, refit, scale
        self.prior_weight, self.n_draws = prior_weight, n_draws
        self._models: dict[int, _Logistic] = {}
        self._value: dict[int, tuple[float, float]] = {}  # (sum of values, paying count)

    def _model(self, t: int, d: int) -> _Logistic:
        m = self._models.get(t)
        if m is None:
            m = self._models[t] = _Logistic(d, self.prior)
        return m

    def value(self, choice: Choice, t: int) -> float:
        """Current estimate of the value of one paying decision of treatment `t`."""
        total, n = self._value.get(t, (0.0, 0.0))
        w = self.prior_weight
        return (total + w * treatment_value(choice.catalog, t)) / (n + w)

    def choose(self, choice: Choice) -> tuple[int, float]:
        x = np.asarray(choice.x, dtype=np.float64)
        e = [int(t) for t in choice.eligible]
        models = [self._model(t, len(x)) for t in e]
        mean = np.array([m.w @ x for m in models])
        sd = self.scale * np.sqrt(np.maximum([x @ m.cov @ x for m in models], 0.0))
        value = np.array([self.value(choice, t) for t in e])
        cost = np.array([treatment_cost(choice.catalog, t) for t in e])
        z = self._rng.standard_normal((self.n_draws, len(e)))
        draws = 1.0 / (1.0 + np.exp(-np.clip(mean + sd * z, -30.0, 30.0))) * value - cost
        wins = np.argmax(draws, axis=1)
        j = int(wins[0])
        return e[j], float(np.count_nonzero(wins == j)) / self.n_draws

    def learn(self, choice: Choice, treatment: int, probability: float, reward: float) -> None:
        t = int(treatment)
        cost = treatment_cost(choice.catalog, t)
        paid = reward > 0.0
        m = self._model(t, len(choice.x))
        m.add(np.asarray(choice.x, dtype=np.float64), float(paid))
        if paid:
            total, n = self._value.get(t, (0.0, 0.0))
            self._value[t] = (total + reward + cost, n + 1.0)
        if m.stale(self.refit):
            m.fit()


PEERS = {
    "random": RandomPolicy,
    "popular": PopularPolicy,
    "linucb": LinUCBPolicy,
    "vw": VowpalPolicy,
    "logistic_ts": LogisticTSPolicy,
}
"""Peer factories by benchmark name (each takes the run's seed, then its own settings)."""

