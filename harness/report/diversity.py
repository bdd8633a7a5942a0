"""Solution diversity of a method: how different its samples for one problem are (standard library).

Latent RL's claim is that it keeps the diversity that text-level RL loses, so the report puts two
measures next to pass@k. Both read only the extracted programs (`solution`) and never run them;
`ast.parse` does not execute code.

AST n-gram similarity (lower = more diverse). For a program P that parses:
  S(P)    = the class names of its AST nodes in depth-first pre-order (children in field order), with
            the Load/Store/Del context nodes left out; identifiers, literals, comments and layout are
            not in S, so renaming a variable or reformatting is not diversity, changing an algorithm is;
  G(P)    = the set of contiguous NGRAM-grams of S(P) (the whole of S if it is shorter);
  sim     = |G(P) & G(Q)| / |G(P) | G(Q)|, the Jaccard similarity (1 for structurally equal programs);
  problem = the mean of sim over the unordered pairs of its samples that parse (needs two of them);
  method  = the mean over its problems that have one. None with one sample per problem.

Distinct passing programs: per problem, the number of different `ast.dump(ast.parse(solution))`
among the samples that pass the base tests (formatting and comments normalised away, names kept);
reported as the mean over all problems (0 where none passes) and as the total over the run.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from itertools import combinations
from typing import Any

from nfbench.harness.report.load import Run

NGRAM = 4


@lru_cache(maxsize=65536)
def _tree(source: str) -> ast.AST | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def node_sequence(tree: ast.AST) -> list[str]:
    out: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.expr_context):
            continue
        out.append(type(node).__name__)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


@lru_cache(maxsize=65536)
def ngrams(source: str, n: int = NGRAM) -> frozenset[tuple[str, ...]] | None:
    """G(P) of a program's source, or None if it does not parse."""
    tree = _tree(source)
    if tree is None:
        return None
    seq = node_sequence(tree)
    if len(seq) <= n:
        return frozenset([tuple(seq)])
    return frozenset(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def problem_similarity(solutions: list[str]) -> float | None:
    grams = [g for g in map(ngrams, solutions) if g is not None]
    if len(grams) < 2:
        return None
    sims = [jaccard(a, b) for a, b in combinations(grams, 2)]
    return sum(sims) / len(sims)


def normalised(source: str) -> str:
    """A program up to formatting and comments (its AST dump), or its stripped text if it does not parse."""
    tree = _tree(source)
    return ast.dump(tree) if tree is not None else source.strip()


def diversity(run: Run) -> dict[str, Any]:
    """{"ast_similarity", "distinct_passing_mean", "distinct_passing_total", "passing_total"} of one run."""
    passed = {(v["task_id"], v["sample_idx"]) for v in run.verdicts if v.get("base_status") == "pass"}
    solutions: dict[str, list[str]] = defaultdict(list)
    distinct: dict[str, set[str]] = defaultdict(set)
    for g in sorted(run.generations, key=lambda g: (g["task_id"], g["sample_idx"])):
        solutions[g["task_id"]].append(g.get("solution") or "")
        if (g["task_id"], g["sample_idx"]) in passed:
            distinct[g["task_id"]].add(normalised(g.get("solution") or ""))
    sims = [s for s in map(problem_similarity, solutions.values()) if s is not None]
    total = sum(len(v) for v in distinct.values())
    return {"ast_similarity": sum(sims) / len(sims) if sims else None,
            "distinct_passing_mean": total / len(solutions) if solutions else None,
            "distinct_passing_total": total, "passing_total": len(passed)}
