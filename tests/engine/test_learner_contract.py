"""One contract suite for every learner (river's `checks/` habit): the response model (one
hierarchical model for every treatment) and the value model.

Each learner is driven through a small adapter (make, a seeded stream, learn one item,
predict a probe set), and the same checks run against both: `learn_one` returns None and
leaves its inputs alone, a pickle round-trip in mid-stream continues exactly as the
uninterrupted learner, two learners fed the same stream agree, and learning moves the
prediction the right way. `ResponseModel.bind` to a reordered, extended or reduced catalog
keeps every row by its stable name (`action@channel`, action, channel, category and feature
names) and starts the new ones at the prior.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog, parse_catalog
from engine.crosses import CrossSpace
from engine.model import BLOCKS, ResponseModel, ValueModel, _sum_variance
from engine.scorer import WeightBoard

BASE = """\
version: "c"
world:
  categories: {shoes: {}, socks: {}}
channels:
  web: {cost: 0}
  email: {cost: 0.1, opt_in: true, outbound: true}
actions:
  - {id: a_shoes, kind: offer, channels: [web, email], category: shoes, value: 10,
     attributes: {discount: 0.1, band: mid}, messages: {web: "a", email: "a"}}
  - {id: b_socks, kind: content, channels: [web, email], category: socks, value: 4,
     attributes: {band: low}, messages: {web: "b", email: "b"}}
  - {id: c_plain, kind: message, channels: [email], value: 2, messages: {email: "c"}}
"""
REORDERED = """\
version: "c"
world:
  categories: {socks: {}, shoes: {}}
channels:
  email: {cost: 0.1, opt_in: true, outbound: true}
  web: {cost: 0}
actions:
  - {id: c_plain, kind: message, channels: [email], value: 2, messages: {email: "c"}}
  - {id: b_socks, kind: content, channels: [email, web], category: socks, value: 4,
     attributes: {band: low}, messages: {web: "b", email: "b"}}
  - {id: a_shoes, kind: offer, channels: [email, web], category: shoes, value: 10,
     attributes: {discount: 0.1, band: mid}, messages: {web: "a", email: "a"}}
"""
EXTENDED = BASE.replace("""channels:
  web: {cost: 0}""", """  traits:
    - {name: vip, from: traits.vip, type: boolean}
channels:
  web: {cost: 0}
  sms: {cost: 0.05, opt_in: true, outbound: true}""") + """\
  - {id: d_new, kind: offer, channels: [web, sms], category: shoes, value: 7,
     attributes: {band: high}, messages: {web: "d", sms: "d"}}
  - {id: e_more, kind: offer, channels: [sms], value: 3, messages: {sms: "e"}}
"""
REDUCED = """\
version: "c"
world:
  categories: {shoes: {}, socks: {}}
channels:
  email: {cost: 0.1, opt_in: true, outbound: true}
actions:
  - {id: a_shoes, kind: offer, channels: [email], category: shoes, value: 10,
     attributes: {discount: 0.1, band: mid}, messages: {email: "a"}}
  - {id: c_plain, kind: message, channels: [email], value: 2, messages: {email: "c"}}
"""


def _catalog(text: str) -> Catalog:
    return parse_catalog(text, "c.yaml")


def _bound(cat: Catalog, model: ResponseModel | None = None) -> ResponseModel:
    model = model if model is not None else ResponseModel()
    model.bind(cat, CrossSpace(cat))
    return model


def _ids(cat: Catalog) -> list[str]:
    return [cat.treatment_id(t) for t in range(cat.n_treatments)]


def _stream(cat: Catalog, seed: int, n: int) -> list[tuple[int, np.ndarray, np.ndarray, bool]]:
    """(treatment, customer vector, crosses row, responded): a response is likelier for one
    treatment and for two features, so there is something to learn."""
    rng = np.random.default_rng(seed)
    n_cross = len(CrossSpace(cat).names)
    out = []
    for _ in range(n):
        t = int(rng.integers(cat.n_treatments))
        x = rng.uniform(0, 1, cat.features.size).astype(np.float32)
        x[0] = 1.0
        c = rng.normal(0, 1, n_cross).astype(np.float32)
        y = bool(x[3] + x[7] + (0.5 if t == 1 else 0.0) + 0.3 * c[2] > 1.2)
        out.append((t, x, c, y))
    return out


class ResponseAdapter:
    name = "ResponseModel"

    def __init__(self) -> None:
        self.cat = _catalog(BASE)

    def make(self) -> ResponseModel:
        return _bound(self.cat)

    def stream(self, seed: int, n: int) -> list[Any]:
        return _stream(self.cat, seed, n)

    def learn(self, model: ResponseModel, item: Any) -> Any:
        return model.learn_one(*item)

    def predict(self, model: ResponseModel, probes: list[Any]) -> list[float]:
        return [model.predict_proba_one(t, x, c) for t, x, c, _ in probes]

    def state(self, model: ResponseModel) -> list[bytes]:
        return [a.tobytes() for a in model.export()]

    def positive(self, item: Any) -> Any:
        t, x, c, _ = item
        return (t, x, c, True)


class ValueAdapter:
    name = "ValueModel"
    declared: ClassVar[dict[str, float]] = {"a_shoes": 10.0, "b_socks": 4.0, "c_plain": 2.0}

    def make(self) -> ValueModel:
        return ValueModel(prior_weight=5.0)

    def stream(self, seed: int, n: int) -> list[Any]:
        rng = np.random.default_rng(seed)
        ids = list(self.declared)
        return [(ids[int(rng.integers(3))], float(rng.exponential(8.0))) for _ in range(n)]

    def learn(self, model: ValueModel, item: Any) -> Any:
        return model.learn_one(*item)

    def predict(self, model: ValueModel, probes: list[Any]) -> list[float]:
        return [model.value_of(aid, self.declared[aid]) for aid, _ in probes]

    def state(self, model: ValueModel) -> list[Any]:
        return sorted(model.sums.items())

    def positive(self, item: Any) -> Any:
        aid, _ = item
        return (aid, 100.0)


ADAPTERS = [ResponseAdapter, ValueAdapter]


@pytest.fixture(params=ADAPTERS, ids=lambda a: a.name)
def learner(request):
    return request.param()


def test_learn_one_returns_none_and_keeps_its_inputs(learner):
    model = learner.make()
    for item in learner.stream(1, 30):
        before = copy.deepcopy(item)
        assert learner.learn(model, item) is None
        for a, b in zip(item, before, strict=True):
            assert (a == b).all() if isinstance(a, np.ndarray) else a == b


def test_a_pickle_round_trip_mid_stream_continues_exactly(learner):
    data = learner.stream(2, 500)  # crosses an empirical-Bayes re-estimate (every 200)
    whole, half = learner.make(), learner.make()
    for item in data[:170]:
        learner.learn(whole, item)
        learner.learn(half, item)
    resumed = pickle.loads(pickle.dumps(half))
    assert learner.predict(resumed, data[:40]) == learner.predict(whole, data[:40])
    for item in data[170:]:
        learner.learn(whole, item)
        learner.learn(resumed, item)
    assert learner.predict(resumed, data[:40]) == learner.predict(whole, data[:40])
    assert learner.state(resumed) == learner.state(whole)


def test_deterministic(learner):
    a, b = learner.make(), learner.make()
    for item in learner.stream(3, 300):
        learner.learn(a, item)
        learner.learn(b, item)
    probes = learner.stream(9, 20)
    assert learner.predict(a, probes) == learner.predict(b, probes)
    assert learner.state(a) == learner.state(b)


def test_learning_positives_raises_the_prediction(learner):
    model = learner.make()
    for item in learner.stream(4, 100):
        learner.learn(model, item)
    probe = learner.stream(5, 1)
    before = learner.predict(model, probe)[0]
    for _ in range(30):
        learner.learn(model, learner.positive(probe[0]))
    assert learner.predict(model, probe)[0] > before


# ----------------------------------------------------------------- ResponseModel specifics


@pytest.mark.parametrize("budget", [0, 10**9], ids=["diagonal", "full"])
def test_export_is_the_kernels_row(budget):
    """The kernel's logit is the model's, and its variance (`V · x²` plus what the scorer
    adds: the crosses' diagonal part and the full-covariance blocks') the model's posterior
    variance of that logit, whether the blocks keep full covariances or not."""
    cat = _catalog(BASE)
    cat = dataclasses.replace(cat, learning=dataclasses.replace(cat.learning,
                                                                covariance_budget=budget))
    model = _bound(cat)
    assert all(b.full == bool(budget) for b in (*model.blocks.values(), model.shared))
    for item in _stream(cat, 4, 300):
        model.learn_one(*item)
    W, b, V, cw, cv = model.export()
    assert W.shape == V.shape == (cat.n_treatments, cat.features.size)
    assert W.dtype == b.dtype == V.dtype == cw.dtype == cv.dtype == np.float32
    # the blocks' variance is the scorer's (`block_variance`); V and cv hold a diagonal
    # shared part's only: its intercept and attributes in V's constant column
    assert ((V[:, 0] > 0).all() and not V[:, 1:].any() and (cv > 0).all()) if not budget \
        else (not V.any() and not cv.any())
    S = {k: v.copy() for k, v in model.covariances().items()}
    assert bool(S) == bool(budget)
    for t, x, c, _ in _stream(cat, 6, 20):
        lg = float(W[t] @ x) + float(b[t]) + float(c @ cw)
        assert lg == pytest.approx(model.logit(t, x, c), rel=1e-4, abs=1e-5)
        C = np.zeros((cat.n_treatments, len(c)), dtype=np.float32)
        C[t] = c
        diag, prior = model.variance_parts()
        var = (float(V[t] @ (x * x)) + float((c * c) @ cv) + model.shared_variance(S, C)[t]
               + model.block_variance(S, diag, prior, x)[t])
        assert var == pytest.approx(model.logit_variance(t, x, c), rel=1e-4)


_POSITIVE = st.floats(0.01, 100.0)


@settings(max_examples=200, deadline=None)
@given(priors=st.lists(_POSITIVE, min_size=2, max_size=6),
       others=st.lists(st.floats(0.0, 100.0), min_size=5, max_size=5),
       own=st.floats(0.0, 1e4))
def test_the_logit_variance_counts_a_treatments_own_evidence_once(priors, others, own):
    """A sum of Gaussian parts, each with prior variance P_b, where every part saw the
    treatment's own evidence (precision D) and the shared ones also other treatments'
    (E_b): the rule's variance of the sum is the exact joint posterior's, `1ᵀ H⁻¹ 1` with
    `H = diag(1/P_b + E_b) + D 11ᵀ`, not the sum of the parts' variances."""
    names = ["treatment", *(f"part{i}" for i in range(1, len(priors)))]
    extra = [0.0, *others[: len(priors) - 1]]  # the treatment row sees only its own
    precision = np.array([1.0 / p + e for p, e in zip(priors, extra, strict=True)])
    parts = {n: np.array([1.0 / (a + own)]) for n, a in zip(names, precision, strict=True)}
    H = np.diag(precision) + own * np.ones((len(names), len(names)))
    exact = float(np.ones(len(names)) @ np.linalg.solve(H, np.ones(len(names))))
    got = float(_sum_variance(parts, dict(zip(names, priors, strict=True)))[0])
    assert got == pytest.approx(exact, rel=1e-6)
    assert got <= sum(float(v[0]) for v in parts.values()) * (1 + 1e-12)


def test_an_input_with_no_variance_along_it_adds_none():
    """A zero customer vector (the kernels' warm-up scores one) has no block variance."""
    cat = _catalog(BASE)
    model = _bound(cat)
    for item in _stream(cat, 4, 50):
        model.learn_one(*item)
    diag, prior = model.variance_parts()
    zero = np.zeros(cat.features.size, dtype=np.float32)
    got = model.block_variance(model.covariances(), diag, prior, zero)
    assert got.shape == (cat.n_treatments,) and np.isfinite(got).all() and (got < 1e-20).all()


def test_an_unseen_model_predicts_one_half_with_the_prior_variance():
    cat = _catalog(BASE)
    model = _bound(cat)
    for t, x, c, _ in _stream(cat, 7, 10):
        assert model.predict_proba_one(t, x, c) == 0.5
        # every row of every block, every feature: the same prior variance
        xf = x.astype(np.float64)
        spread = {round(float(xf @ b.gain(r, xf)), 9)
                  for b in model.blocks.values() for r in range(len(b.rows))}
        assert len(spread) == 1 and spread.pop() > 0


def _by_name(cat: Catalog, model: ResponseModel) -> dict[str, tuple[dict[str, float], ...]]:
    """Exported rows keyed by treatment id, each as {feature name: value} for W and V, and
    b: what the kernel reads, independent of row and column order."""
    W, b, V, _, _ = model.export()
    names = cat.features.names
    return {tid: (dict(zip(names, W[t].tolist(), strict=True)),
                  dict(zip(names, V[t].tolist(), strict=True)), {"b": float(b[t])})
            for t, tid in enumerate(_ids(cat))}


def _trained() -> tuple[Catalog, ResponseModel]:
    cat = _catalog(BASE)
    model = _bound(cat)
    for item in _stream(cat, 11, 600):
        model.learn_one(*item)
    return cat, model


BASE_IDS = {"a_shoes@web", "a_shoes@email", "b_socks@web", "b_socks@email", "c_plain@email"}


@pytest.mark.parametrize(("other", "kept", "new"), [
    (REORDERED, BASE_IDS, set()),
    (EXTENDED, BASE_IDS, {"d_new@web", "d_new@sms", "e_more@sms"}),
    (REDUCED, {"a_shoes@email", "c_plain@email"}, set()),
], ids=["reordered", "extended", "reduced"])
def test_bind_keeps_rows_by_stable_id_and_starts_new_ones_at_the_prior(other, kept, new,
                                                                         caplog):
    base_cat, trained = _trained()
    before = _by_name(base_cat, trained)
    cat = _catalog(other)
    assert set(_ids(cat)) == kept | new
    with caplog.at_level(logging.WARNING, logger="engine.model"):
        model = _bound(cat, pickle.loads(pickle.dumps(trained)))
    after = _by_name(cat, model)
    shared_cols = set(base_cat.features.names) & set(cat.features.names)
    for tid in kept:  # W, V and b of every kept treatment, feature by feature
        for old, new_row in zip(before[tid], after[tid], strict=True):
            assert {k: new_row[k] for k in old if k in shared_cols} == \
                {k: old[k] for k in old if k in shared_cols}, tid
    finest = "treatment"
    row = model.blocks[finest]
    for t, tid in enumerate(_ids(cat)):
        r = int(model._index[finest][t])
        if tid in new:  # a new treatment: its own residual starts at the prior
            assert not row.w[r].any() and not row.h[r].any()
        else:
            assert row.w[r].any() and row.h[r].any()
    new_cols = [j for j, n in enumerate(cat.features.names) if n not in shared_cols]
    assert bool(new_cols) == (other is EXTENDED)  # consent_sms and the vip trait
    for name in trained.blocks.keys() & model.blocks.keys():
        assert not model.blocks[name].w[:, new_cols].any()  # a new feature: at the prior
        assert not model.blocks[name].h[:, new_cols].any()
        was = dict(zip(trained.blocks[name].cols, trained.blocks[name].tau, strict=True))
        now = dict(zip(model.blocks[name].cols, model.blocks[name].tau, strict=True))
        assert {k: now[k] for k in shared_cols} == {k: was[k] for k in shared_cols}  # priors
    assert (model.n, model.positives) == (trained.n, trained.positives)
    assert ("kept their learned rows" in caplog.text) == (other is REDUCED)
    if other is REDUCED:
        assert "2 treatments kept their learned rows, 3 removed were dropped, 0 new start " \
            "at the prior" in caplog.text
    # it goes on learning under the new catalog
    for item in _stream(cat, 12, 50):
        model.learn_one(*item)
    assert model.n == trained.n + 50


def test_new_actions_start_from_what_their_channel_kind_and_category_learned():
    """The hierarchy: a new web offer in `shoes` shares the learned channel row; its kind
    and category rows (blocks BASE could not tell from `action`) and its own action and
    treatment rows are at the prior."""
    base_cat, trained = _trained()
    cat = _catalog(EXTENDED)
    model = _bound(cat, pickle.loads(pickle.dumps(trained)))
    t = _ids(cat).index("d_new@web")
    a = [x.id for x in cat.actions].index("d_new")
    assert not model.blocks["action"].w[a].any() and not model.blocks["treatment"].w[t].any()
    assert not model.blocks["category"].w.any() and not model.blocks["kind"].w.any()
    # BASE groups its treatments alike by kind, category and action, so `trained` kept
    # the most specific of those (action); EXTENDED tells them apart and adds the others
    assert set(trained.blocks) == {"channel", "action", "treatment"}
    assert set(model.blocks) == set(BLOCKS)
    learned = trained.blocks["channel"].w[trained.blocks["channel"].rows.index("web")]
    W, _, _, _, _ = model.export()
    new_names = cat.features.names
    for j, name in enumerate(base_cat.features.names):
        assert W[t, new_names.index(name)] == np.float32(learned[j]), name
    assert np.abs(learned).sum() > 0.1  # web was learned before


def test_value_model_rows_follow_action_ids_across_catalogs():
    values = ValueModel(prior_weight=5.0)
    for _ in range(5):
        values.learn_one("a_shoes", 20.0)
    assert values.value_of("a_shoes", 10.0) == 15.0  # (5 x 10 + 5 x 20) / (5 + 5)
    for text in (BASE, REORDERED, EXTENDED, REDUCED):
        cat = _catalog(text)
        board = WeightBoard(cat, _bound(cat), values)
        got = {tid: float(v) for tid, v in zip(_ids(cat), board.value, strict=True)}
        for tid, v in got.items():
            action = tid.split("@")[0]
            declared = next(a.value for a in cat.actions if a.id == action)
            assert v == (15.0 if action == "a_shoes" else declared), (text, tid)


# ----------------------------------------------------------------- full covariances


def _with(cat: Catalog, **learning: Any) -> Catalog:
    return dataclasses.replace(cat, learning=dataclasses.replace(cat.learning, **learning))


@pytest.mark.parametrize("memory", [0.0, 400.0], ids=["keep", "fade"])
def test_a_full_row_is_the_inverse_of_its_prior_plus_its_data(memory):
    """Sherman–Morrison at every example, re-inversion at every empirical-Bayes step and
    fading keep each full row's covariance `S` = (diag(tau) + H)⁻¹ with H the row's data
    precision: symmetric, positive definite, its diagonal the accumulated `h`."""
    cat = _with(_catalog(BASE), eb_every=50, memory=memory)
    model = _bound(cat)
    taus = []
    for i, item in enumerate(_stream(cat, 8, 400)):
        model.learn_one(*item)
        if i % 50 == 49:
            taus.append(tuple(model.blocks["channel"].tau))
    assert len(set(taus)) > 1  # the prior moved: re-inverted under a new tau
    for block in (*model.blocks.values(), model.shared):
        assert block.full
        for r in range(len(block.rows)):
            S = block.S[r]
            assert np.allclose(S, S.T, atol=1e-10)
            assert np.linalg.eigvalsh(S).min() > 0
            H = np.linalg.inv(S) - np.diag(block.tau)
            assert np.allclose(np.diag(H), block.h[r], rtol=1e-5, atol=1e-7)


def test_the_budget_keeps_full_covariances_for_the_most_shared_blocks_first():
    cat = _catalog(BASE)
    d = cat.features.size
    base = _bound(cat)
    fewest = sorted(base.blocks, key=lambda name: len(base.blocks[name].rows))[:2]
    need = sum(len(base.blocks[name].rows) * d * d for name in fewest)
    model = _bound(_with(cat, covariance_budget=need + len(base.shared.cols) ** 2))
    assert {name for name, b in model.blocks.items() if b.full} == set(fewest)
    assert model.shared.full
    assert not any(b.full for b in _bound(_with(cat, covariance_budget=need - 1)).blocks
                   .values() if len(b.rows) > len(base.blocks[fewest[0]].rows))
    assert not _bound(_with(cat, covariance_budget=0)).shared.full


def test_a_snapshot_from_before_full_covariances_resumes_and_gains_them():
    """An older pickle of a block holds five fields (no `S`): it loads diagonal, and `bind`
    gives it a covariance equal to its diagonal posterior, so nothing learned is lost."""
    cat, trained = _trained_diagonal()
    old = pickle.loads(pickle.dumps(trained))
    for block in (*old.blocks.values(), old.shared):
        state = block.__getstate__()[:5]
        block.__setstate__(state)
        assert not block.full and block.dirty == set()
    model = _bound(cat, old)
    for name, block in model.blocks.items():
        was = trained.blocks[name]
        assert block.full and np.array_equal(block.w, was.w)
        assert np.allclose(np.diagonal(block.S, axis1=1, axis2=2), 1.0 / (was.tau + was.h))
    probe = _stream(cat, 9, 5)
    assert [model.logit(t, x, c) for t, x, c, _ in probe] == \
        [trained.logit(t, x, c) for t, x, c, _ in probe]


def _trained_diagonal() -> tuple[Catalog, ResponseModel]:
    cat = _catalog(BASE)
    model = _bound(_with(cat, covariance_budget=0))
    for item in _stream(cat, 11, 300):
        model.learn_one(*item)
    return cat, model


def test_the_board_holds_the_models_covariances_after_every_publish():
    """Only changed rows are copied at a publish; after learning, an empirical-Bayes step
    (which replaces every row) and a resumed model, the board equals the model."""
    cat = _with(_catalog(BASE), eb_every=40)
    model = _bound(cat)
    board = WeightBoard(cat, model, ValueModel())
    stream = _stream(cat, 12, 130)
    for chunk in (stream[:7], stream[7:45], stream[45:]):
        for item in chunk:
            model.learn_one(*item)
        board.publish(model, ValueModel())
        for name, cov in model.covariances().items():
            assert board.S[name].dtype == np.float32
            assert np.allclose(board.S[name], cov, rtol=1e-5, atol=1e-9), name
    resumed = pickle.loads(pickle.dumps(model))
    resumed.learn_one(*stream[0])
    board.publish(resumed, ValueModel())
    assert all(np.allclose(board.S[k], v, rtol=1e-5, atol=1e-9)
               for k, v in resumed.covariances().items())


# ----------------------------------------------------------------- per-column priors


def test_the_features_that_matter_keep_weaker_priors_than_those_that_do_not():
    """Empirical Bayes per column (automatic relevance determination): after learning, the
    two customer features and the one cross the stream's responses depend on are shrunk
    less (lower prior precision) than the median feature of the same block."""
    cat = _with(_catalog(BASE), eb_every=100)
    model = _bound(cat)
    for item in _stream(cat, 21, 3000):
        model.learn_one(*item)
    for name in ("channel", "treatment"):
        tau = model.blocks[name].tau
        assert tau[3] < np.median(tau) and tau[7] < np.median(tau), name
    shared = model.shared
    cross = [j for j, c in enumerate(shared.cols) if c.startswith("cross:")]
    assert shared.tau[cross[2]] < np.median(shared.tau[cross])


def test_a_snapshot_with_one_prior_per_block_resumes_with_it_on_every_column():
    """A block pickled before per-column priors holds one float `tau`: it loads with that
    precision on every column and predicts exactly as before."""
    cat, trained = _trained_diagonal()
    old = pickle.loads(pickle.dumps(trained))
    for block in (*old.blocks.values(), old.shared):
        rows, cols, w, h, _tau, S, dirty = block.__getstate__()
        block.__setstate__((rows, cols, w, h, 3.5, S, dirty))
        assert block.tau.shape == (len(cols),) and set(block.tau) == {3.5}
        assert np.array_equal(block.variance(), 1.0 / (3.5 + h))  # the prior it held
    model = _bound(_with(cat, covariance_budget=0), old)
    probe = _stream(cat, 9, 5)
    assert [model.logit(t, x, c) for t, x, c, _ in probe] == \
        [trained.logit(t, x, c) for t, x, c, _ in probe]
    model.learn_one(*probe[0])  # and learns on


# ----------------------------------------------------------------- blocks kept once


def test_blocks_that_group_the_treatments_alike_are_kept_once():
    """BASE's kind, category and action blocks put its treatments in the same rows
    (a_shoes: offer, shoes; b_socks: content, socks; c_plain: message, none): the model keeps
    the most specific (action), and an unseen treatment's logit has the prior variance
    `prior_logit_sd` says, split over the blocks it has, not two more copies of one part."""
    for text, blocks in ((BASE, {"channel", "action", "treatment"}), (EXTENDED, set(BLOCKS))):
        cat = _catalog(text)
        model = _bound(cat)
        assert set(model.blocks) == blocks
        nb = len(model.blocks) + 1
        sd = cat.learning.prior_logit_sd
        for t, x, _, _ in _stream(cat, 3, 5):
            xf = x.astype(np.float64)
            part = sum(float(xf @ b.gain(int(model._index[name][t]), xf))
                       for name, b in model.blocks.items())
            expected = (nb - 1) / nb * sd ** 2 * float(xf @ xf) / 8.0  # x_hint 8
            assert part == pytest.approx(expected, rel=1e-9)
        W, _, _, _, _ = model.export()
        assert W.shape == (cat.n_treatments, cat.features.size)


def test_a_snapshot_block_the_catalog_now_duplicates_joins_the_one_kept():
    """A model learned under EXTENDED (five blocks) bound to BASE keeps channel, action and
    treatment; what its kind and category rows learned joins the action rows, so every
    treatment's mean logit is as it was."""
    cat = _catalog(EXTENDED)
    model = _bound(cat)
    for item in _stream(cat, 5, 300):
        model.learn_one(*item)
    before = _by_name(cat, model)
    base = _catalog(BASE)
    again = _bound(base, pickle.loads(pickle.dumps(model)))
    assert set(again.blocks) == {"channel", "action", "treatment"}
    after = _by_name(base, again)
    names = set(base.features.names) & set(cat.features.names)
    for tid in _ids(base):
        for k in names:
            assert after[tid][0][k] == pytest.approx(before[tid][0][k], abs=1e-5), (tid, k)
    for item in _stream(base, 6, 20):
        again.learn_one(*item)
    assert again.n == model.n + 20
