"""Compile catalog expressions (`cart_value > 20 and orders >= 1`) into predicate rows.

Grammar: a conjunction (`and`) of comparisons `feature OP number` (or `number OP feature`),
a bare `feature` (means `feature > 0`) or `not feature` (means `feature == 0`).
OP is one of `< <= > >= == !=`. Disjunctions are written as separate actions or rules:
that keeps every predicate a row the numba kernel evaluates without Python.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["OPS", "Predicate", "compile_expression"]

OPS = ("<", "<=", ">", ">=", "==", "!=")
_AST_OPS = {ast.Lt: 0, ast.LtE: 1, ast.Gt: 2, ast.GtE: 3, ast.Eq: 4, ast.NotEq: 5}
_FLIP = {0: 2, 1: 3, 2: 0, 3: 1, 4: 4, 5: 5}


class Predicate(NamedTuple):
    """`feature OP value`, with `feature` an index into the rule vector."""

    feature: int
    op: int
    value: float


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _feature(node: ast.expr, names: Mapping[str, int]) -> int:
    if not isinstance(node, ast.Name):
        msg = f"expected a feature name, got {ast.unparse(node)!r}"
        raise ValueError(msg)
    if node.id not in names:
        known = ", ".join(sorted(names))
        msg = f"unknown feature {node.id!r}; known features: {known}"
        raise ValueError(msg)
    return names[node.id]


def _atom(node: ast.expr, names: Mapping[str, int]) -> Predicate:
    if isinstance(node, ast.Name):
        return Predicate(_feature(node, names), 2, 0.0)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Predicate(_feature(node.operand, names), 4, 0.0)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _AST_OPS:
        op = _AST_OPS[type(node.ops[0])]
        left, right = node.left, node.comparators[0]
        value = _number(right)
        if value is not None:
            return Predicate(_feature(left, names), op, value)
        value = _number(left)
        if value is not None:
            return Predicate(_feature(right, names), _FLIP[op], value)
        msg = f"compare a feature with a number: {ast.unparse(node)!r}"
        raise ValueError(msg)
    msg = f"unsupported expression {ast.unparse(node)!r} (use `feature OP number`, `and`)"
    raise ValueError(msg)


def compile_expression(text: str, names: Mapping[str, int]) -> list[Predicate]:
    """Parse `text` into predicates that must all hold; `ValueError` says what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        msg = f"syntax error in {text!r}: {e.msg}"
        raise ValueError(msg) from e
    body = tree.body
    if isinstance(body, ast.BoolOp):
        if not isinstance(body.op, ast.And):
            msg = f"`or` is not supported in {text!r}: split it into separate rules"
            raise ValueError(msg)
        return [_atom(v, names) for v in body.values]
    return [_atom(body, names)]
