"""Deterministic mutants of canonical solutions, for the evalplus agreement benchmark.

Each kind imitates a typical wrong model output: wrong operator, off-by-one constant, an
exception, an infinite loop, a syntax error, huge stdout, a missing return.
"""
from __future__ import annotations

import ast
import re

OPERATORS = [(" + ", " - "), (" - ", " + "), (" < ", " <= "), (" > ", " >= "), (" == ", " != "),
             (" * ", " + "), (" <= ", " < "), (" >= ", " > ")]


def _body_start(code: str, entry_point: str) -> tuple[int, str] | None:
    """(line index, indentation) of the first statement in the entry point's body."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and len(node.body) > 1:  # skip the docstring
                first = node.body[1]
            if first.lineno == node.lineno:  # a one-line `def f(x): return ...`
                return None
            line = code.splitlines()[first.lineno - 1]
            return first.lineno - 1, line[: len(line) - len(line.lstrip())]  # tabs stay tabs
    return None


def _insert(code: str, entry_point: str, stmt: str) -> str | None:
    where = _body_start(code, entry_point)
    if where is None:
        return None
    lines = code.splitlines()
    line, indent = where
    lines.insert(line, indent + stmt)
    return "\n".join(lines) + "\n"


def _in_body(code: str, entry_point: str) -> tuple[str, str] | None:
    """(text before the entry point's body, text from its first statement on)."""
    where = _body_start(code, entry_point)
    if where is None:
        return None
    lines = code.splitlines(keepends=True)
    return "".join(lines[: where[0]]), "".join(lines[where[0]:])


def wrong_operator(code: str, entry_point: str) -> str | None:
    parts = _in_body(code, entry_point)
    if parts is None:
        return None
    before, body = parts
    for old, new in OPERATORS:
        if old in body:
            return before + body.replace(old, new, 1)
    return None


def off_by_one(code: str, entry_point: str) -> str | None:
    parts = _in_body(code, entry_point)
    if parts is None:
        return None
    before, body = parts
    m = re.search(r"(?<![\w.'\"])(\d+)(?![\w.'\"])", body)
    if m is None:
        return None
    return before + body[: m.start()] + str(int(m.group(1)) + 1) + body[m.end():]


MUTANTS = {
    "wrong_operator": wrong_operator,
    "off_by_one": off_by_one,
    "exception": lambda c, e: _insert(c, e, "raise ValueError('mutant')"),
    "exception_sometimes": lambda c, e: _insert(c, e, "if len(repr(locals())) % 3 == 0: raise KeyError('mutant')"),
    "infinite_loop": lambda c, e: _insert(c, e, "while True: pass"),
    "syntax_error": lambda c, e: c[: len(c) * 2 // 3] + "\n  )(\n",
    "huge_stdout": lambda c, e: _insert(c, e, "print('x' * 200_000)"),
    "returns_none": lambda c, e: _insert(c, e, "return None"),
}


def mutate(code: str, entry_point: str, kind: str) -> str | None:
    return MUTANTS[kind](code, entry_point)
