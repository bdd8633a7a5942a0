"""How far a graph run's written reasoning follows the root's path: the first hop (the reasoning's
second node is the root's child in the prompt) and the whole path, per run directory. For CoT-style
runs with `reasoning: nodes` (the chain is the path's letters, `TUg`); latent runs have no text.

    python experiments/graph_hops.py RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def path_of(prompt: str) -> str:
    """The root's path, followed through the prompt's edges (`uv;...;f()=end(r)`)."""
    edges, _, tail = prompt.rpartition(";f()=end(")
    child = {e[0]: e[1] for e in edges.split(";") if len(e) == 2}
    node, path = tail[0], tail[0]
    while node in child:
        node = child[node]
        path += node
    return path


def count(run: Path) -> tuple[int, int, int]:
    n = first = whole = 0
    for line in (run / "generations.jsonl").open():
        g = json.loads(line)
        prompt = re.search(r"[A-Za-z;]*;f\(\)=end\([A-Za-z]\)", g["prompt"]).group(0)
        truth, said = path_of(prompt), (g.get("reasoning") or "").strip()
        n += 1
        first += len(said) > 1 and said[:2] == truth[:2]
        whole += said == truth
    return n, first, whole


if __name__ == "__main__":
    for run in map(Path, sys.argv[1:]):
        n, first, whole = count(run)
        print(f"{run}: first hop right {first}/{n}, whole path {whole}/{n}")
