"""Assert tests (HumanEval, MBPP, synth) turned into checks the sample cannot forge (host side).

`assert f(2, [1]) == [3]` becomes an item {"calls": ["f(2, [1])"], "check": "__o[0] == [3]"}: the
candidate process evaluates each call of the sample's own function in its namespace and returns the
outputs as plain data; the judge evaluates `check` with `__o` bound to those outputs and its own
builtins (container/judge_asserts.py). The common forms all split this way: `== expected`,
`math.isclose(f(x), y, rel_tol=...)`, `set(f(x)) == set(y)`, `abs(f(x) - y) < eps`, `not f(x)`,
`f(x) is True`, a bare `f(x)`, and HumanEval's `check(candidate)` whose body is such asserts.

An assert needing anything else on the judge's side (a name from the test's setup, a loop, an
assignment, a helper that receives the sample's output) cannot be judged without running the
sample's code on it: it stays a statement run in the sample's own process, the one kind of
verdict a sample can forge; such verdicts are marked (`Verdict.self_checked`) and counted per task
in `nfbench ls tasks`.
"""
from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

from nfbench.harness.types import Problem

# Must name what container/judge_asserts.py binds: SAFE_BUILTINS and MODULES
JUDGE_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "filter",
    "float", "frozenset", "hash", "int", "isinstance", "len", "list", "map", "max", "min", "ord", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip",
    "True", "False", "None", "Exception", "ValueError", "TypeError", "AssertionError"})
JUDGE_MODULES = frozenset({"math", "cmath", "re", "sys"})
_JUDGE_NODES = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Call, ast.Attribute, ast.Subscript,
                ast.Slice, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Name, ast.keyword,
                ast.Load, ast.boolop, ast.operator, ast.unaryop, ast.cmpop, ast.JoinedStr, ast.FormattedValue)


class Unparseable(Exception):
    pass


class _Split(ast.NodeTransformer):
    """Replace each call of the sample's functions by `__o[k]`, collecting the call's source (with
    HumanEval's `candidate` renamed to the entry point); refuse anything the judge cannot evaluate."""

    def __init__(self, functions: set[str], rename: dict[str, str], given: set[str]):
        self.functions, self.rename, self.given = functions, rename, given
        self.calls: list[str] = []
        self.modules: set[str] = set()

    def visit_Call(self, node: ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in self.functions:
            self.calls.append(ast.unparse(_Rename(self.rename).visit(node)))
            return ast.Subscript(ast.Name("__o", ast.Load()), ast.Constant(len(self.calls) - 1), ast.Load())
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name):
        if node.id in JUDGE_MODULES:
            self.modules.add(node.id)
        elif node.id not in JUDGE_BUILTINS:
            raise Unparseable(node.id)
        return node

    def visit_BoolOp(self, node: ast.BoolOp):
        before = len(self.calls)
        node = self.generic_visit(node)
        # `a or f(x)` would not call f when a holds; the candidate calls everything first
        if isinstance(node.op, ast.Or) and len(self.calls) > before:
            raise Unparseable("or")
        return node

    def visit_Dict(self, node: ast.Dict):
        before = len(self.calls)
        node = self.generic_visit(node)
        if len(self.calls) > before:  # keys and values interleave in evaluation order
            raise Unparseable("dict")
        return node

    def generic_visit(self, node):
        if not isinstance(node, _JUDGE_NODES):
            raise Unparseable(type(node).__name__)
        return super().generic_visit(node)


class _Rename(ast.NodeTransformer):
    def __init__(self, rename: dict[str, str]):
        self.rename = rename

    def visit_Name(self, node: ast.Name):
        return ast.Name(self.rename.get(node.id, node.id), node.ctx)


def split_statement(stmt: ast.stmt, functions: set[str], rename: dict[str, str] | None = None,
                    given: set[str] = frozenset()) -> dict:
    """One assert (or bare call) -> {"calls": sources the candidate evaluates, "check": the judge's
    expression over `__o`, "modules": modules it uses, "needs": those the sample's namespace must
    bind, as the original assert needs them}; raises Unparseable."""
    if isinstance(stmt, ast.Assert):
        expr = stmt.test  # the message is evaluated only when the assert fails: not part of the verdict
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
            isinstance(stmt.value.func, ast.Name) and stmt.value.func.id in functions:
        expr = None  # a bare call: passes when it returns
    else:
        raise Unparseable(type(stmt).__name__)
    split = _Split(functions, rename or {}, set(given))
    if expr is None:
        split.visit_Call(stmt.value)
        return {"calls": split.calls, "check": None, "modules": [], "needs": []}
    check = split.visit(expr)
    return {"calls": split.calls, "check": ast.unparse(check), "modules": sorted(split.modules),
            "needs": sorted(split.modules - split.given)}


def _humaneval_check(test: str, setup: str, entry_point: str) -> list[dict] | None:
    """HumanEval's `check(candidate)`: the asserts of its body, or None if the body is more than
    asserts (loops, assignments)."""
    try:
        call = ast.parse(test).body
        tree = ast.parse(setup)
    except SyntaxError:
        return None
    if len(call) != 1 or not isinstance(call[0], ast.Expr) or not isinstance(call[0].value, ast.Call):
        return None
    fn_call = call[0].value
    if not (isinstance(fn_call.func, ast.Name) and len(fn_call.args) == 1 and isinstance(fn_call.args[0], ast.Name)):
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn_call.func.id]
    if len(defs) != 1 or len(defs[0].args.args) != 1:
        return None
    param, arg = defs[0].args.args[0].arg, fn_call.args[0].id
    given: set[str] = set()
    items = []
    for stmt in defs[0].body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Import) and all(a.name in JUDGE_MODULES and a.asname is None for a in stmt.names):
            given |= {a.name for a in stmt.names}  # imported by check itself, not needed from the sample
            continue
        try:
            items.append(split_statement(stmt, {param, entry_point, arg}, {param: arg}, given))
        except Unparseable:
            return None
    return items


@dataclass
class AssertPlan:
    """A problem's assert tests as the judge runs them."""

    phases: dict[str, list[dict]]  # per phase, items in order; each names its test index ("test")
    n_tests: dict[str, int]
    self_checked: int  # tests that run (at least partly) as statements in the sample's process


def plan(problem: Problem) -> AssertPlan:
    with warnings.catch_warnings():  # datasets' asserts hold regexes like '\d' in plain strings
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return _plan(problem)


def _plan(problem: Problem) -> AssertPlan:
    t = problem.tests
    functions = {problem.entry_point} if problem.entry_point else set()
    phases, n_tests, fallback = {}, {}, 0
    for phase, tests in (("base", t.asserts), ("plus", t.plus_asserts)):
        items: list[dict] = []
        for i, test in enumerate(tests):
            parsed = _humaneval_check(test, t.setup, problem.entry_point)
            if parsed is None:
                try:
                    body = ast.parse(test).body
                    parsed = [split_statement(stmt, functions) for stmt in body] if body else None
                except (SyntaxError, Unparseable):
                    parsed = None
            if parsed is None:
                fallback += 1
                items.append({"test": i, "stmt": test})
            else:
                items += [{"test": i, **item} for item in parsed]
        phases[phase], n_tests[phase] = items, len(tests)
    return AssertPlan(phases, n_tests, fallback)


def self_checked_tests(problems: list[Problem]) -> tuple[int, int]:
    """(tests checked in the sample's own process, all tests) over assert problems."""
    done = total = 0
    for p in problems:
        if p.tests.kind == "asserts":
            done += plan(p).self_checked
            total += len(p.tests.asserts) + len(p.tests.plus_asserts)
    return done, total
