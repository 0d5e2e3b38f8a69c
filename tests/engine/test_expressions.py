"""Catalog expressions: every form compiles to the exact predicate rows written here by hand,
every unsupported form is rejected with a message that says how to fix it, and the rows mean
what the kernel makes of them (`engine.kernels._holds`)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from engine import Engine
from engine.catalog import DEFAULT_CATALOG, load_catalog, parse_catalog
from engine.expressions import FLOAT32_MAX, OPS, Predicate, compile_expression
from engine.kernels import _holds

RULE_INDEX = load_catalog().rules.index

NAMES = {"a": 0, "b": 1, "c": 2}
LT, LE, GT, GE, EQ, NE = range(6)


def P(feature: int, op: int, value: float) -> Predicate:
    return Predicate(feature, op, value)


@pytest.mark.parametrize(("text", "rows"), [
    # feature OP number, every operator
    ("a < 3", [P(0, LT, 3.0)]),
    ("a <= 3", [P(0, LE, 3.0)]),
    ("a > 3", [P(0, GT, 3.0)]),
    ("a >= 3", [P(0, GE, 3.0)]),
    ("a == 3", [P(0, EQ, 3.0)]),
    ("a != 3", [P(0, NE, 3.0)]),
    # number OP feature: the operator is mirrored
    ("3 < b", [P(1, GT, 3.0)]),
    ("3 <= b", [P(1, GE, 3.0)]),
    ("3 > b", [P(1, LT, 3.0)]),
    ("3 >= b", [P(1, LE, 3.0)]),
    ("3 == b", [P(1, EQ, 3.0)]),
    ("3 != b", [P(1, NE, 3.0)]),
    # numbers: negative, signed, float, exponent, int
    ("a > -2", [P(0, GT, -2.0)]),
    ("a > -2.5", [P(0, GT, -2.5)]),
    ("-2.5 < a", [P(0, GT, -2.5)]),
    ("a > +4", [P(0, GT, 4.0)]),
    ("a >= 0.25", [P(0, GE, 0.25)]),
    ("a < 1e3", [P(0, LT, 1000.0)]),
    ("a < -1e-3", [P(0, LT, -0.001)]),
    ("a <= 3.4e38", [P(0, LE, 3.4e38)]),
    ("a <= 3.4028234663852886e38", [P(0, LE, FLOAT32_MAX)]),  # float32 max itself
    ("a > -3.4028234663852886e38", [P(0, GT, -FLOAT32_MAX)]),
    # chained comparisons: one row per link
    ("1 <= a < 5", [P(0, GE, 1.0), P(0, LT, 5.0)]),
    ("5 > a >= -1", [P(0, LT, 5.0), P(0, GE, -1.0)]),
    ("0 < a < 1 < b", [P(0, GT, 0.0), P(0, LT, 1.0), P(1, GT, 1.0)]),
    # bare booleans and their negation
    ("c", [P(2, GT, 0.0)]),
    ("not c", [P(2, EQ, 0.0)]),
    ("  c  ", [P(2, GT, 0.0)]),
    # conjunctions (nested, parenthesised, mixed with every atom)
    ("a > 1 and b <= 2", [P(0, GT, 1.0), P(1, LE, 2.0)]),
    ("c and b <= 3", [P(2, GT, 0.0), P(1, LE, 3.0)]),
    ("not c and 2 < a", [P(2, EQ, 0.0), P(0, GT, 2.0)]),
    ("(a > 1 and b > 2) and c", [P(0, GT, 1.0), P(1, GT, 2.0), P(2, GT, 0.0)]),
    ("a > 1 and (b > 2 and not c)", [P(0, GT, 1.0), P(1, GT, 2.0), P(2, EQ, 0.0)]),
    ("1 < a <= 2 and c", [P(0, GT, 1.0), P(0, LE, 2.0), P(2, GT, 0.0)]),
])
def test_each_form_compiles_to_its_rows(text, rows):
    got = compile_expression(text, NAMES)
    assert got == rows
    assert all(type(p.value) is float for p in got)


@pytest.mark.parametrize(("text", "message"), [
    ("a > 1 or b > 1", "`or` is not supported in 'a > 1 or b > 1': split it into separate"),
    ("a > 1 and (b > 1 or c)", "`or` is not supported in 'b > 1 or c'"),
    ("not a > 3", "`not` applies to a feature name only, got 'not a > 3'; invert the comparison"),
    ("not not c", "`not` applies to a feature name only, got 'not not c'"),
    ("not 3", "`not` applies to a feature name only"),
    ("f(a)", "unsupported expression 'f(a)' (use `feature OP number`"),
    ("a.b > 1", "expected a feature name, got 'a.b'"),
    ("a.b", "unsupported expression 'a.b'"),
    ("a > 'x'", "compare a feature with a number: \"a > 'x'\""),
    ("'x'", "unsupported expression \"'x'\""),
    ("a > True", "compare a feature with a number: 'a > True'"),
    ("a == None", "compare a feature with a number: 'a == None'"),
    ("a > b", "compare a feature with a number: 'a > b'"),
    ("1 < 2", "compare a feature with a number: '1 < 2'"),
    ("a < 1 < 2", "compare a feature with a number: '1 < 2'"),
    ("-a > 1", "expected a feature name, got '-a'"),
    ("a + 1 > 2", "expected a feature name, got 'a + 1'"),
    ("a in 3", "operator in 'a in 3' is not supported; use one of < <= > >= == !="),
    ("a is 3", "operator in 'a is 3' is not supported"),
    ("a > 1e400", "number inf is not a finite float32"),
    ("a > 1e39", "number 1e+39 is not a finite float32"),
    ("3", "unsupported expression '3'"),
    ("a if b else c", "unsupported expression 'a if b else c'"),
    ("d > 1", "unknown feature 'd'; known features: a, b, c"),
    ("zz", "unknown feature 'zz'; known features: a, b, c"),
    ("not zz", "unknown feature 'zz'"),
    ("a >", "syntax error in 'a >'"),
    ("", "syntax error in ''"),
    ("a > 1;", "syntax error"),
])
def test_unsupported_forms_are_rejected_with_how_to_fix(text, message):
    with pytest.raises(ValueError) as e:
        compile_expression(text, NAMES)
    assert message in str(e.value)


def test_the_float32_bound_is_the_kernel_type_bound():
    assert np.float32(FLOAT32_MAX) == np.finfo(np.float32).max
    assert OPS == ("<", "<=", ">", ">=", "==", "!=")


@pytest.mark.parametrize(("text", "true_at", "false_at"), [
    ("c", [1.0, 0.5, 2.0], [0.0, -1.0]),
    ("not c", [0.0], [1.0, 0.5, -1.0]),
    ("3 < c", [3.5, 4.0], [3.0, 2.0]),
    ("-2 <= c < 5", [-2.0, 0.0, 4.9], [-2.1, 5.0]),
    ("c != 1", [0.0, 2.0], [1.0]),
])
def test_rows_hold_in_the_kernel_exactly_where_the_text_says(text, true_at, false_at):
    rows = compile_expression(text, NAMES)
    vec = np.zeros(3, dtype=np.float32)

    def holds(v: float) -> bool:
        vec[2] = v
        return all(_holds(float(vec[p.feature]), p.op, float(np.float32(p.value))) for p in rows)

    assert [holds(v) for v in true_at] == [True] * len(true_at)
    assert [holds(v) for v in false_at] == [False] * len(false_at)


# ----------------------------------------------------------------- the default catalog

BARE = {  # default actions whose `when` has a bare boolean (or its negation), by hand
    "welcome_first_order": [P(RULE_INDEX["never_ordered"], GT, 0.0),
                            P(RULE_INDEX["sessions"], LE, 3.0)],
    "retarget_viewed_items": [P(RULE_INDEX["never_ordered"], GT, 0.0),
                         P(RULE_INDEX["tenure_days"], GE, 3.0)],
    "checkout_assist": [P(RULE_INDEX["checkout_open"], GT, 0.0)],
    "newsletter_signup": [P(RULE_INDEX["known_customer"], EQ, 0.0)],
}


def test_default_catalog_bare_booleans_compile_to_rows_that_can_hold():
    cat = load_catalog()
    by_id = {a.id: a for a in cat.actions}
    for action_id, rows in BARE.items():
        assert list(by_id[action_id].when) == rows, action_id
        for t in range(cat.n_treatments):
            if cat.treatment(t)[0].id != action_id:
                continue
            lo, hi = cat.pred_ptr[t], cat.pred_ptr[t + 1]
            assert np.isfinite(cat.pred_val[lo:hi]).all()
            assert [(int(f), int(o), float(v)) for f, o, v in zip(
                cat.pred_feat[lo:hi], cat.pred_op[lo:hi], cat.pred_val[lo:hi],
                strict=True)] == [tuple(r) for r in rows]


def _only(action_id: str) -> str:
    """The default catalog with one action left (its rule unchanged)."""
    doc = yaml.safe_load(DEFAULT_CATALOG.read_text())
    doc["actions"] = [a for a in doc["actions"] if a["id"] == action_id]
    assert doc["actions"], action_id
    return yaml.safe_dump(doc, sort_keys=False)


def test_a_default_action_with_a_bare_boolean_rule_becomes_eligible(make_event):
    """`welcome_first_order` (`never_ordered and sessions <= 3`) through the in-process Engine:
    offered to a newcomer, no longer once she has ordered."""
    eng = Engine(parse_catalog(_only("welcome_first_order"), "welcome.yaml"), seed=3)
    [d] = eng.process(make_event("page", "Home", minute=0,
                                 properties={"placement": "home_hero"}))
    assert (d.action_id, d.channel, d.trigger) == ("welcome_first_order", "web", "request")
    assert eng.features("u1")["rule.never_ordered"] == 1.0
    eng.process(make_event("track", "Order Completed", minute=1,
                           properties={"order_id": "o1", "revenue": 20.0}))
    assert eng.features("u1")["rule.never_ordered"] == 0.0
    after = eng.process(make_event("page", "Home", minute=2,
                                   properties={"placement": "home_hero"}))
    assert [x for x in after if x.trigger == "request"] == []
