"""Compile catalog expressions (`cart_value > 20 and orders >= 1`) into predicate rows.

Grammar: a conjunction (`and`) of atoms, each one of

- a comparison `feature OP number` or `number OP feature` (`3 < x` is `x > 3`);
- a chained comparison, `1 <= x < 5`, meaning each link (`x >= 1`, `x < 5`);
- a bare `feature`, meaning `feature > 0` (rule booleans are 1.0 / 0.0);
- `not feature`, meaning `feature == 0`.

OP is one of `< <= > >= == !=`; numbers are finite and fit a float32 (the kernel's type),
with an optional sign. Disjunctions are written as separate actions or rules: that keeps
every predicate a row the numba kernel (`engine.kernels._holds`) evaluates without Python.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["FLOAT32_MAX", "OPS", "Predicate", "compile_expression"]

OPS = ("<", "<=", ">", ">=", "==", "!=")
"""Operator codes, by index: `Predicate.op` is an index into this tuple."""
FLOAT32_MAX = 3.4028234663852886e38
"""Constants beyond this would become infinite in the kernel's float32 rows."""

_AST_OPS = {ast.Lt: 0, ast.LtE: 1, ast.Gt: 2, ast.GtE: 3, ast.Eq: 4, ast.NotEq: 5}
_FLIP = {0: 2, 1: 3, 2: 0, 3: 1, 4: 4, 5: 5}
"""`c OP x` as `x FLIP[OP] c`."""
_GT, _EQ = 2, 4
_HINT = "use `feature OP number`, `a <= feature < b`, `feature`, `not feature`, joined by `and`"


class Predicate(NamedTuple):
    """`feature OP value`, with `feature` an index into the rule vector."""

    feature: int
    op: int
    value: float


def _number(node: ast.expr) -> float | None:
    """The value of a numeric literal (optionally signed), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool) \
            or not isinstance(node.value, int | float):
        return None
    value = float(node.value)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        msg = (f"number {node.value!r} is not a finite float32; "
               f"use a value within ±{FLOAT32_MAX:.3g}")
        raise ValueError(msg)
    return value


def _feature(node: ast.expr, names: Mapping[str, int]) -> int:
    if not isinstance(node, ast.Name):
        msg = f"expected a feature name, got {ast.unparse(node)!r} ({_HINT})"
        raise ValueError(msg)
    if node.id not in names:
        known = ", ".join(sorted(names))
        msg = f"unknown feature {node.id!r}; known features: {known}"
        raise ValueError(msg)
    return names[node.id]


def _link(left: ast.expr, op: ast.cmpop, right: ast.expr,
          names: Mapping[str, int]) -> Predicate:
    """One `a OP b` of a (possibly chained) comparison: exactly one side a number."""
    code = _AST_OPS.get(type(op))
    text = ast.unparse(ast.Compare(left=left, ops=[op], comparators=[right]))
    if code is None:
        msg = f"operator in {text!r} is not supported; use one of {' '.join(OPS)}"
        raise ValueError(msg)
    right_value, left_value = _number(right), _number(left)
    if right_value is not None and left_value is None:
        return Predicate(_feature(left, names), code, right_value)
    if left_value is not None and right_value is None:
        return Predicate(_feature(right, names), _FLIP[code], left_value)
    msg = f"compare a feature with a number: {text!r}"
    raise ValueError(msg)


def _atom(node: ast.expr, names: Mapping[str, int]) -> list[Predicate]:
    if isinstance(node, ast.Name):
        return [Predicate(_feature(node, names), _GT, 0.0)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        if not isinstance(node.operand, ast.Name):
            msg = (f"`not` applies to a feature name only, got {ast.unparse(node)!r}; "
                   "invert the comparison instead (`not x > 3` is `x <= 3`)")
            raise ValueError(msg)
        return [Predicate(_feature(node.operand, names), _EQ, 0.0)]
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        return [_link(operands[i], op, operands[i + 1], names) for i, op in enumerate(node.ops)]
    if isinstance(node, ast.BoolOp):
        return _conjunction(node, names)
    msg = f"unsupported expression {ast.unparse(node)!r} ({_HINT})"
    raise ValueError(msg)


def _conjunction(node: ast.BoolOp, names: Mapping[str, int]) -> list[Predicate]:
    if not isinstance(node.op, ast.And):
        msg = (f"`or` is not supported in {ast.unparse(node)!r}: "
               "split it into separate actions or rules")
        raise ValueError(msg)
    return [p for v in node.values for p in _atom(v, names)]


def compile_expression(text: str, names: Mapping[str, int]) -> list[Predicate]:
    """Parse `text` into predicates that must all hold; `ValueError` says what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        msg = f"syntax error in {text!r}: {e.msg}"
        raise ValueError(msg) from e
    return _atom(tree.body, names)
