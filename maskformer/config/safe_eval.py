"""A whitelisting evaluator for the arithmetic list expressions found in official YAML files.

The official ADE20K / Cityscapes / Mapillary configs write scale lists as::

    MIN_SIZE_TRAIN: !!python/object/apply:eval ["[int(x * 0.1 * 512) for x in range(5, 21)]"]

Detectron2 loads them with ``yaml.unsafe_load``, which runs any code. Here the expression is parsed
with :mod:`ast` and only a tiny language is evaluated: numbers, ``+ - * / // %`` and unary ``-``/``+``,
``int()``, ``range()``, list/tuple literals and list comprehensions over ``range``. Anything else
(names other than the comprehension variable, attributes, other calls, subscripts, lambdas, ...)
raises :class:`UnsafeExpressionError`; nothing is ever passed to :func:`eval`.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

__all__ = ["UnsafeExpressionError", "safe_eval"]

_BIN_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY_OPS = {ast.USub: operator.neg, ast.UAdd: operator.pos}
# More comprehension steps than this (nested ones included) is a mistake, not a scale list.
_MAX_STEPS = 100_000


class UnsafeExpressionError(ValueError):
    """An expression uses something outside the whitelisted arithmetic language."""


def safe_eval(expression: str) -> Any:
    """Evaluates an arithmetic list expression without running arbitrary code.

    Args:
        expression: e.g. ``"[int(x * 0.1 * 640) for x in range(5, 21)]"``.

    Returns:
        The value: a number, or a (nested) list of numbers.

    Raises:
        UnsafeExpressionError: on any syntax outside the whitelist, or invalid syntax.
    """
    if not isinstance(expression, str):
        raise UnsafeExpressionError(f"expected an expression string, got {type(expression).__name__}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise UnsafeExpressionError(f"invalid expression {expression!r}: {e.msg}") from None
    return _Evaluator(expression).visit(tree.body)


class _Evaluator:
    """Walks an expression tree node by node; unknown node types are refused."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: dict[str, Any] = {}
        self.steps = 0

    def refuse(self, node: ast.AST, why: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(
            f"{why} in {self.source!r}; only numbers, + - * / // %, int(), range(), lists and "
            "list comprehensions over range() are allowed"
        )

    def visit(self, node: ast.AST) -> Any:
        method = {
            ast.Constant: self.constant,
            ast.BinOp: self.bin_op,
            ast.UnaryOp: self.unary_op,
            ast.List: self.sequence,
            ast.Tuple: self.sequence,
            ast.Name: self.name,
            ast.Call: self.call,
            ast.ListComp: self.list_comp,
        }.get(type(node))
        if method is None:
            raise self.refuse(node, f"'{type(node).__name__}' is not allowed")
        return method(node)

    def constant(self, node: ast.Constant) -> Any:
        # bool is an int subclass: refuse it like strings and None.
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise self.refuse(node, f"constant {node.value!r} is not a number")
        return node.value

    def bin_op(self, node: ast.BinOp) -> Any:
        op = _BIN_OPS.get(type(node.op))
        if op is None:
            raise self.refuse(node, f"operator '{type(node.op).__name__}' is not allowed")
        return op(self.number(node.left), self.number(node.right))

    def unary_op(self, node: ast.UnaryOp) -> Any:
        op = _UNARY_OPS.get(type(node.op))
        if op is None:
            raise self.refuse(node, f"operator '{type(node.op).__name__}' is not allowed")
        return op(self.number(node.operand))

    def sequence(self, node: ast.List | ast.Tuple) -> list:
        return [self.visit(elt) for elt in node.elts]

    def name(self, node: ast.Name) -> Any:
        if node.id not in self.names:
            raise self.refuse(node, f"name '{node.id}' is not allowed")
        return self.names[node.id]

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in ("int", "range"):
            raise self.refuse(node, "only int() and range() may be called")
        if node.keywords:
            raise self.refuse(node, "keyword arguments are not allowed")
        args = [self.number(arg) for arg in node.args]
        if node.func.id == "int":
            if len(args) != 1:
                raise self.refuse(node, "int() takes exactly one argument")
            return int(args[0])
        return self.range(node, args)

    def list_comp(self, node: ast.ListComp) -> list:
        if len(node.generators) != 1:
            raise self.refuse(node, "only one 'for' per comprehension is allowed")
        gen = node.generators[0]
        if gen.ifs or gen.is_async or not isinstance(gen.target, ast.Name):
            raise self.refuse(node, "only 'for NAME in range(...)' is allowed")
        if not (isinstance(gen.iter, ast.Call) and getattr(gen.iter.func, "id", None) == "range"):
            raise self.refuse(node, "comprehensions may only iterate over range()")
        values = self.visit(gen.iter)
        name = gen.target.id
        saved = self.names.get(name)
        result = []
        for value in values:
            self.steps += 1
            if self.steps > _MAX_STEPS:
                raise self.refuse(node, f"more than {_MAX_STEPS} comprehension steps")
            self.names[name] = value
            result.append(self.visit(node.elt))
        if saved is None:
            self.names.pop(name, None)
        else:
            self.names[name] = saved
        return result

    def number(self, node: ast.AST) -> int | float:
        value = self.visit(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(node, "arithmetic applies to numbers only")
        return value

    def range(self, node: ast.Call, args: list) -> range:
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
            raise self.refuse(node, "range() takes one to three integers")
        return range(*args)
