"""Do a coconut checkpoint's continuous thoughts carry information? Teacher-forced loss on synth (or
graph) validation sequences at a curriculum stage, with the thoughts as computed, zeroed, or shuffled
across the batch. The first target token is reported on its own: at a stage that leaves text steps it
is the first value the removed steps decide (synth: ln 10 = no information; graph: the node reached
after the removed hops, ln 51 = none, ln of the prompt's node count = a guess among them). Equal
losses: the thoughts are ignored. The task and its options are those the checkpoint was trained on.

    .venv/bin/python experiments/coconut_thought_probe.py CHECKPOINT [--stages 1,4] [--n 128]
"""
from __future__ import annotations

import argparse

import torch

from nfbench.harness.backbone import load_backbone
from nfbench.harness.checkpoints import read_info
from nfbench.harness.pipeline import open_task
from nfbench.harness.sft_data import task_examples
from nfbench.methods.coconut import collate_fn, encode_sample, separator, special_ids
from nfbench.methods.coconut import curriculum as cur
from nfbench.methods.coconut.latent import latent_forward
from nfbench.methods.prompt_format import PromptFormat


def token_losses(model, batch, latent_id, edit) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-position CE [B, L-1], target mask, index of each target among its row's targets."""
    with torch.no_grad():
        logits, _ = latent_forward(model, batch["input_ids"], batch["attention_mask"], latent_id, edit)
    labels = batch["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels,
                                           ignore_index=cur.IGNORE, reduction="none")
    target = labels != cur.IGNORE
    return ce, target, target.long().cumsum(1) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--stages", default="1,4")
    ap.add_argument("--n", type=int, default=128, help="validation sequences")
    args = ap.parse_args()
    info = read_info(args.checkpoint)
    trained = info["train_config"]
    mc = trained["method_config"]
    task = open_task(trained["data"], None, trained.get("task_options") or {})
    bb = load_backbone(args.checkpoint, device="cpu")
    model, ids = bb.model.eval(), special_ids(bb, mc["init_token"])
    fmt = PromptFormat(task, bb.tokenizer, reasons=True)
    sep = info.get("step_separator") or separator(mc["step_separator"], fmt)
    samples = [encode_sample(e, fmt, sep) for e in task_examples(task, "validation")[: args.n]]
    shuffle = torch.randperm(len(samples), generator=torch.Generator().manual_seed(0))
    edits = {"as computed": None, "zeroed": torch.zeros_like, "shuffled": lambda t: t[shuffle]}
    emb_norm = model.get_input_embeddings().weight.norm(dim=-1).mean().item()
    print(f"{args.checkpoint}: c_thought {mc['c_thought']}, max_latent_stage {mc['max_latent_stage']}, "
          f"mean input-embedding norm {emb_norm:.2f}")
    for stage in map(int, args.stages.split(",")):
        examples = [cur.build_example(q, s, a, stage, ids, max_latent_stage=mc["max_latent_stage"],
                                      c_thought=mc["c_thought"], pad_latent_to_max=mc["pad_latent_to_max"])
                    for q, s, a in samples]
        batch = collate_fn(bb.tokenizer.pad_token_id)(examples)
        norms: list[float] = []
        for name, edit in edits.items():
            probe = edit if name != "as computed" else (lambda t: norms.append(t.norm(dim=-1).mean().item()) or t)
            ce, target, index = token_losses(model, batch, ids["latent"], probe)
            first = ce[target & (index == 0)]
            print(f"stage {stage} thoughts {name:11s}: loss {ce[target].mean():.4f}, first target token "
                  f"loss {first.mean():.3f}")
        print(f"stage {stage}: mean thought norm {sum(norms) / max(1, len(norms)):.2f}")


if __name__ == "__main__":
    main()
