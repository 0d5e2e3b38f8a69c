"""One contract suite for every learner (river's `checks/` habit)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from engine.learners import ActionLearner, RepurchaseLearner, as_features
from features.vector import N_FEATURES

LEARNERS = [ActionLearner, RepurchaseLearner]


def _data(seed: int, n: int = 200) -> list[tuple[dict[str, float], bool]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.uniform(0, 1, N_FEATURES).astype(np.float32)
        x[0] = 1.0
        out.append((as_features(x), bool(x[3] + x[7] > 1.0)))
    return out


@pytest.mark.parametrize("cls", LEARNERS)
def test_learn_one_returns_none_and_keeps_x(cls):
    model = cls()
    for x, y in _data(1, 20):
        before = copy.deepcopy(x)
        assert model.learn_one(x, y) is None
        assert x == before


@pytest.mark.parametrize("cls", LEARNERS)
def test_pickle_round_trip_keeps_predictions(cls):
    model = cls()
    data = _data(2)
    for x, y in data:
        model.learn_one(x, y)
    clone = pickle.loads(pickle.dumps(model))
    assert [clone.predict_proba_one(x) for x, _ in data[:20]] == \
        [model.predict_proba_one(x) for x, _ in data[:20]]


@pytest.mark.parametrize("cls", LEARNERS)
def test_deterministic(cls):
    a, b = cls(), cls()
    for x, y in _data(3):
        a.learn_one(x, y)
        b.learn_one(x, y)
    x0 = _data(9, 1)[0][0]
    assert a.predict_proba_one(x0) == b.predict_proba_one(x0)


@pytest.mark.parametrize("cls", LEARNERS)
def test_features_may_appear_and_disappear(cls):
    model = cls()
    model.learn_one({"views_7d": 1.0}, True)
    model.learn_one({"orders": 2.0}, False)
    assert 0.0 < model.predict_proba_one({"rain": 1.0}) < 1.0
    assert 0.0 < model.predict_proba_one({}) < 1.0


@pytest.mark.parametrize("cls", LEARNERS)
def test_learning_positives_raises_the_prediction(cls):
    model = cls()
    x = {"views_7d": 1.0, "cart_value": 0.5}
    before = model.predict_proba_one(x)
    for _ in range(30):
        model.learn_one(x, True)
    assert model.predict_proba_one(x) > before


def test_export_is_the_kernels_row():
    model = ActionLearner()
    for x, y in _data(4):
        model.learn_one(x, y)
    w, b, v = model.export()
    assert w.shape == v.shape == (N_FEATURES,) and w.dtype == np.float32
    x = np.zeros(N_FEATURES, dtype=np.float32)
    x[0], x[3] = 1.0, 0.7
    p = 1 / (1 + np.exp(-(float(w @ x) + b)))
    assert p == pytest.approx(model.predict_proba_one(as_features(x)), rel=1e-5)
    assert (v > 0).all()
