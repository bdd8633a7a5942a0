"""graph: seeded ProsQA-style graph search rendered as code, for CPU-scale method comparisons.

Each problem lists the edges of a small directed graph in random order (`uv` is the edge u -> v) and
asks for the end of the path that starts at a named root; the chain of thought is that path, one
edge per step:

    prompt     jO;Cy;TU;XM;tW;PC;EZ;Ox;ym;as;mQ;Ia;Mj;gE;Ug;WI;f()=end(T)
    reasoning  TU;Ug;gE;EZ                     (the path from the root T, one edge per step)
    answer     def f():return 'Z'

Like ProsQA (Coconut's graph-search suite: nonsense concepts, "Every X is a Y" rules with
distractors, the CoT is the path from the root), the answer needs every hop of the path while the
prompt holds look-alike chains that the root does not reach: a direct answer must chase `depth`
pointers in one forward pass, a chain of thought one per step. Edges are written `uv`, not `u>v`, so
that each hop is the plain induction pattern (the position of node u predicts what followed u in the
prompt); with `u>v` (the lookup made at `>`, its query one token back) the from-scratch tiny Llama
stayed at chance after 2000 steps. With `uv` it learns the lookup slowly and seed-dependently: not at
CI budgets, and at depth 2 with 1 distractor and nodes-only reasoning in 12,000 constant-lr steps
(pass@1 0.93-0.99 over two seeds; experiments/graph-suite.md, runs 21-28). Node names are
single letters (a-z but f, A-Z), so examples stay short for character-level tiny models (~95
characters at the defaults).

Options (the difficulty knobs first):
  depth        edges on the root's path (the number of reasoning steps).
  distractors  chains of `depth` edges on other nodes, not reachable from the root, so that every
               leaf of the graph looks like a path end (a direct guess among leaves is right 1 in
               distractors+1 times).
  branching    children per node of the root's path: the extra ones start dead-end side branches,
               each shorter than the rest of the path (its length drawn uniformly), so the end is the
               unique farthest node, and choosing the right child needs look-ahead (ProsQA's
               search; 1 = a plain chain).
  reasoning    how the chain of thought writes the path: "edges" (`TU;Ug;gE;EZ`, one edge per step,
               the default) or "nodes" (`TUgEZ`, one node per step: every position after the root is
               the plain induction lookup: the format that was learned in runs 21-28; edges were not tried
               that long).
  n_train / n_val / n_test (20000 / 200 / 200: ProsQA has 17,886 / 300 / 500), seed.
"""
from __future__ import annotations

import random
import string
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_task
from nfbench.tasks.generated import GeneratedTask

GENERATOR_VERSION = "graph-path-v2"
NODES = string.ascii_lowercase.replace("f", "") + string.ascii_uppercase  # one character each; f is the function
INSTRUCTION = ("Each pair uv is an edge from node u to node v. end(r) is the node farthest from r along the "
               "edges (the end of r's longest path). Write the Python function f() that returns it as a "
               "one-letter string.")
DEFAULTS: dict[str, Any] = {"depth": 4, "distractors": 3, "branching": 1, "reasoning": "edges", "n_train": 20000,
                            "n_val": 200, "n_test": 200, "seed": 1234}
REASONING = ("edges", "nodes")


def nodes_needed(depth: int, distractors: int, branching: int) -> int:
    """Most node names one graph can use: the path, the distractor chains, the longest side branches."""
    return (depth + 1) * (1 + distractors) + (branching - 1) * depth * (depth - 1) // 2


def _generate(rng: random.Random, depth: int, distractors: int, branching: int,
              reasoning: str = "edges") -> dict[str, Any]:
    """One graph: the root's path, dead-end side branches off it, disjoint distractor chains."""
    names = iter(rng.sample(NODES, nodes_needed(depth, distractors, branching)))
    path = [next(names) for _ in range(depth + 1)]
    edges = list(zip(path, path[1:]))
    # a side branch off path[i] may reach depth i+length <= depth-1: the path's end stays the
    # unique farthest node (so nodes with fewer than two edges left on the path get none)
    for i, node in enumerate(path[:-2]):
        for _ in range(branching - 1):
            side = [node] + [next(names) for _ in range(rng.randint(1, depth - 1 - i))]
            edges += zip(side, side[1:])
    for _ in range(distractors):  # as long as the path: their ends look like its end
        chain = [next(names) for _ in range(depth + 1)]
        edges += zip(chain, chain[1:])
    rng.shuffle(edges)
    return {"prompt": ";".join(u + v for u, v in edges) + f";f()=end({path[0]})",
            "reasoning": "".join(path) if reasoning == "nodes" else ";".join(u + v for u, v in zip(path, path[1:])),
            "solution": f"def f():return '{path[-1]}'", "path": "".join(path)}


@register_task("graph")
class GraphTask(GeneratedTask):
    """Synthetic graph-search code suite (ProsQA-style): follow the root's path past distractors, return its end."""

    source = f"generated by nfbench ({GENERATOR_VERSION}), seeded"
    generator_version = GENERATOR_VERSION
    defaults = DEFAULTS
    instruction = INSTRUCTION
    too_few_fix = "ask for fewer problems or a larger graph"

    def __init__(self, data_dir=None, **options: Any):
        super().__init__(data_dir, **options)
        o = self.options
        try:
            self.knobs = (int(o["depth"]), int(o["distractors"]), int(o["branching"]))
            sizes = [int(o[k]) for k in ("n_train", "n_val", "n_test")]
        except (TypeError, ValueError):
            raise UserError("graph options depth, distractors, branching and n_* must be integers",
                            "e.g. --set task_options.depth=4") from None
        depth, distractors, branching = self.knobs
        if depth < 1:
            raise UserError(f"graph depth={depth} is out of range", "use depth >= 1")
        if distractors < 0 or branching < 1:
            raise UserError(f"graph distractors={distractors}, branching={branching} out of range",
                            "use distractors >= 0 and branching >= 1")
        if o["reasoning"] not in REASONING:
            raise UserError(f"graph reasoning={o['reasoning']!r} is not one of {', '.join(REASONING)}",
                            "use --set task_options.reasoning=edges (or nodes)")
        if min(sizes) < 0:
            raise UserError("graph split sizes must be >= 0", "set n_train, n_val, n_test to counts")
        need = nodes_needed(*self.knobs)
        if need > len(NODES):
            raise UserError(f"graph depth={depth}, distractors={distractors}, branching={branching} needs "
                            f"up to {need} node names and there are {len(NODES)}",
                            "lower depth, distractors or branching")

    def generate(self, rng: random.Random) -> dict[str, Any]:
        return _generate(rng, *self.knobs, self.options["reasoning"])

    def asserts(self, ex: dict[str, Any]) -> list[str]:
        return [f"assert f() == {ex['path'][-1]!r}"]

    def meta(self, ex: dict[str, Any]) -> dict[str, Any]:
        return {"depth": self.knobs[0], "path": ex["path"]}
