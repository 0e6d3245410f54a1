"""`${...}` argument expressions in blocks, parsed with a node whitelist, never eval'd.

A spec arrives from untrusted pull requests, so an expression may only combine integer
literals and the block's argument names with + - * / // % ** and parentheses.
"""

from __future__ import annotations

import ast
import operator
import re

from convcalc.errors import ConvCalcError
from convcalc.text import shown

MAX_LENGTH = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = 10**18

_WHOLE = re.compile(r"^\$\{(.*)\}$", re.DOTALL)

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def is_expression(value: object) -> bool:
    """True for a string of the form `${...}`."""
    return isinstance(value, str) and value.startswith("${")


def evaluate(text: str, args: dict[str, object]) -> object:
    """Value of a `${...}` string over the block arguments `args`."""
    match = _WHOLE.match(text)
    if match is None:
        raise ConvCalcError(
            f"{shown(text)}: an expression must be the whole value, as in '${{width}}'"
        )
    source = match.group(1).strip()
    if len(source) > MAX_LENGTH:
        raise ConvCalcError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise ConvCalcError(f"{shown(text)} is not an arithmetic expression") from None
    return _value(tree.body, args, text)


def _value(node: ast.AST, args: dict[str, object], text: str) -> object:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in args:
            known = ", ".join(sorted(args)) or "none"
            raise ConvCalcError(
                f"{shown(text)}: unknown argument {shown(node.id)} (arguments: {known})"
            )
        return args[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _integer(_value(node.operand, args, text), text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINARY or isinstance(node.op, ast.Div)):
        left = _integer(_value(node.left, args, text), text)
        right = _integer(_value(node.right, args, text), text)
        return _apply(node.op, left, right, text)
    raise ConvCalcError(
        f"{shown(text)}: only integers, argument names, + - * / // % ** and parentheses are allowed"
    )


def _apply(op: ast.operator, left: int, right: int, text: str) -> int:
    if isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
        raise ConvCalcError(f"{shown(text)}: division by zero")
    if isinstance(op, ast.Div):
        if left % right:
            raise ConvCalcError(f"{shown(text)}: {left} / {right} is not a whole number (use //)")
        result = left // right
    elif isinstance(op, ast.Pow) and not 0 <= right <= MAX_EXPONENT:
        raise ConvCalcError(f"{shown(text)}: exponent {right} outside 0..{MAX_EXPONENT}")
    else:
        result = _BINARY[type(op)](left, right)
    if abs(result) > MAX_MAGNITUDE:
        raise ConvCalcError(f"{shown(text)}: value too large")
    return result


def _integer(value: object, text: str) -> int:
    if type(value) is not int:
        raise ConvCalcError(f"{shown(text)}: arithmetic needs integers, got {shown(value)}")
    return value
