"""Which rendering of the graph suite can the from-scratch tiny Llama learn? (experiments/graph-suite.md)

Trains the tiny Llama by plain CoT SFT on graphs from tasks/graph.py re-rendered in one of these
formats and prints, every 250 steps, the teacher-forced accuracy of the looked-up node at every hop
on 300 held-out graphs (chance: ~1/number of nodes in the prompt):

  A  edges `u>v`, reasoning `r>a;a>b;...`  (the lookup made at `>`: its query is one token back)
  B  edges `uv`,  reasoning `ra;ab;...`    (the lookup made at the node itself: plain induction; the task's format)
  C  edges `uv`,  reasoning `rab...`       (nodes only)
  S  as A with the edges sorted by source node

    .venv/bin/python experiments/graph_format_explore.py --variant B --depth 4 --dis 3 --steps 2000
"""
from __future__ import annotations

import argparse
import math
import random
import time

import torch

from nfbench.harness.backbone import load_backbone
from nfbench.harness.batching import pad_collate
from nfbench.tasks.graph import _generate

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--variant", default="B", choices=list("ABCS"))
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--n", type=int, default=20000, help="training graphs")
ap.add_argument("--depth", type=int, default=4)
ap.add_argument("--dis", type=int, default=3)
ap.add_argument("--bs", type=int, default=32)
ap.add_argument("--sched", default="constant", choices=["constant", "cosine"])
a = ap.parse_args()


def render(ex: dict, v: str) -> tuple[str, str, str, list[int]]:
    """(prompt, reasoning, answer, offsets in the reasoning of the looked-up nodes)."""
    edges = ex["prompt"].rsplit(";", 1)[0].split(";")  # "uv" pairs
    path, question, hops = ex["path"], f";f()=end({ex['path'][0]})\n", len(ex["path"]) - 1
    if v == "S":
        edges = sorted(edges, key=lambda e: (e[0].lower(), e[0]))
    if v in "AS":
        return (";".join(f"{e[0]}>{e[1]}" for e in edges) + question,
                ";".join(f"{u}>{w}" for u, w in zip(path, path[1:])) + "\n", ex["solution"] + "\n",
                [4 * k + 2 for k in range(hops)])
    if v == "B":
        return ";".join(edges) + question, ex["reasoning"] + "\n", ex["solution"] + "\n", [3 * k + 1 for k in range(hops)]
    return ";".join(edges) + question, path + "\n", ex["solution"] + "\n", [k + 1 for k in range(hops)]


rng = random.Random(0)
data = [_generate(rng, a.depth, a.dis, 1) for _ in range(a.n + 300)]
train, held = data[: a.n], data[a.n:]
bb = load_backbone("tiny-llama", device="cpu", seed=0)
tok, model = bb.tokenizer, bb.model.train()


def encode(ex: dict) -> tuple[dict, int, list[int]]:
    prompt, reasoning, answer, offsets = render(ex, a.variant)
    p = [tok.bos_token_id] + tok(prompt, add_special_tokens=False)["input_ids"]
    t = tok(reasoning + answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return {"input_ids": p + t, "labels": [-100] * len(p) + t}, len(p), offsets


rows = [encode(e)[0] for e in train]
collate = pad_collate(tok.pad_token_id)
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)


def lr_at(step: int) -> float:
    if step < 50:
        return a.lr * (step + 1) / 50
    return a.lr if a.sched == "constant" else a.lr * 0.5 * (1 + math.cos(math.pi * (step - 50) / (a.steps - 50)))


@torch.no_grad()
def lookup_accuracy() -> float:
    model.eval()
    good = total = 0
    for i in range(0, len(held), 50):
        encoded = [encode(e) for e in held[i:i + 50]]
        batch = collate([e[0] for e in encoded])
        pred = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(-1)
        for j, (row, plen, offsets) in enumerate(encoded):
            for q in offsets:  # the logits one position before the node predict it
                good += int(pred[j, plen + q - 1].item() == row["input_ids"][plen + q])
                total += 1
    model.train()
    return good / total


start, gen = time.time(), torch.Generator().manual_seed(0)
for step in range(a.steps):
    batch = collate([rows[i] for i in torch.randint(len(rows), (a.bs,), generator=gen).tolist()])
    for group in opt.param_groups:
        group["lr"] = lr_at(step)
    loss = model(**batch).loss
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if (step + 1) % 250 == 0:
        print(f"{a.variant} step {step + 1} loss {loss.item():.4f} lookup {lookup_accuracy():.3f} "
              f"({time.time() - start:.0f}s)", flush=True)
