"""Show that each equivalence test (tests/test_equivalence_*.py) can fail: apply one one-line sabotage
of a mechanism at a time, run the test meant to catch it, restore the file, print CAUGHT or MISSED with
the loss's relative difference.   Usage: python experiments/equivalence_sabotage.py [INDEX ...]

It edits tracked source files in place (restored in `finally`), so it refuses to run on a tree with
uncommitted changes: if it is killed mid-run, `git checkout -- <file>` restores the file it names.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (what is broken, file, original text, sabotaged text, the test that must fail)
SABOTAGES = [
 ("latent-sft s1: no position ids (the old behaviour)", "methods/latent_sft/stage1.py",
  'attention_mask=mask, position_ids=batch["pos"]).logits', 'attention_mask=mask).logits', "test_equivalence_latent_sft.py"),
 ("latent-sft s1: spacer also sees the prefix (supervision mask)", "methods/latent_sft/masks.py",
  "| ((rq == SPACER) & ((k_latent & (sk == sq))", "| ((rq == SPACER) & (k_prefix | (k_latent & (sk == sq))", "test_equivalence_latent_sft.py"),
 ("latent-sft s1: encoder sees earlier compress tokens (induction mask)", "methods/latent_sft/masks.py",
  "keep = causal[None] & ~(is_compress & earlier[None])", "keep = causal[None]", "test_equivalence_latent_sft.py"),
 ("latent-sft s1: latents not fed to the decoder", "methods/latent_sft/stage1.py",
  "embeds = embeds.masked_scatter(slots[..., None], latents.to(embeds.dtype))", "embeds = embeds", "test_equivalence_latent_sft.py"),
 ("latent-sft s1: superposition always scored by the head", "methods/latent_sft/stage1.py",
  'if self.scores == "head" else None', 'if self.scores else None', "test_equivalence_latent_sft.py"),
 ("latent-sft s1: spacer position ids not counted from their latent", "methods/latent_sft/sequences.py",
  "start=latent_pos + 1)", ")", "test_equivalence_latent_sft.py"),
 ("latent-sft s2: KL at the slot instead of the position before", "methods/latent_sft/stage2.py",
  "before_slot = torch.roll(slots, -1, dims=1)", "before_slot = slots", "test_equivalence_latent_sft.py"),
 ("latent-sft s2: teacher latents not fed", "methods/latent_sft/stage2.py",
  "embeds = embeds.masked_scatter(slots[..., None], mix(probs, top, W).to(embeds.dtype))", "embeds = embeds", "test_equivalence_latent_sft.py"),
 ("coconut: thoughts not fed back (the <latent> embedding instead)", "methods/coconut/latent.py",
  "x = torch.where(is_latent[:, col, None, None], edit(thought), tokens[:, col:col + 1])", "x = tokens[:, col:col + 1]", "test_equivalence_coconut.py"),
 ("coconut: thought not updated between passes", "methods/coconut/latent.py",
  "        chunks.append(logits)\n        thought = hidden[:, -1:]", "        chunks.append(logits)", "test_equivalence_coconut.py"),
 ("coconut: position ids ignore the left padding", "methods/coconut/latent.py",
  "pos = positions(attention_mask)", "pos = positions(torch.ones_like(attention_mask))", "test_equivalence_coconut.py"),
 ("coconut: thought from the layer below the last", "methods/coconut/latent.py",
  "return out.logits, out.hidden_states[-1]", "return out.logits, out.hidden_states[-2]", "test_equivalence_coconut.py"),
 ("nfcot: NF head reads the latent's own position", "methods/nfcot/model.py",
  "mu, sigma = self.head(h[:, p: p + k])", "mu, sigma = self.head(h[:, p + 1: p + k + 1])", "test_equivalence_nfcot.py"),
 ("nfcot: flow log-det with the wrong sign", "methods/nfcot/flow.py",
  "return self._permute(z), -scale.log().sum(dim=(1, 2))", "return self._permute(z), scale.log().sum(dim=(1, 2))", "test_equivalence_nfcot.py"),
 ("nfcot: flow parameters not shifted (slot sees itself)", "methods/nfcot/flow.py",
  "p = torch.cat([torch.zeros_like(p[:, :1]), p[:, :-1]], dim=1)", "p = p", "test_equivalence_nfcot.py"),
 ("nfcot: position ids ignore the left padding", "methods/nfcot/model.py",
  "h, _ = self.run(embeds, mask, positions(mask))", "h, _ = self.run(embeds, mask, positions(torch.ones_like(mask)))", "test_equivalence_nfcot.py"),
 ("nfcot: latents masked out of the stream", "methods/nfcot/model.py",
  "ones = batch.prompt_mask.new_ones(b, u.shape[1] + 2)", "ones = batch.prompt_mask.new_zeros(b, u.shape[1] + 2)", "test_equivalence_nfcot.py"),
 ("nfcot: flow unconditioned (prompt not pooled in)", "methods/nfcot/flow.py",
  "h = h + self.cond(cond)[:, None, :]", "h = h", "test_equivalence_nfcot.py"),
 ("soft-thinking: stopped rows not masked", "methods/soft_thinking_core.py",
  "out = step(model, state, inputs_embeds=x, new_mask=active[:, None], meter=meter)", "out = step(model, state, inputs_embeds=x, meter=meter)", "test_equivalence_soft_thinking.py"),
 ("soft-thinking: argmax embedding instead of the concept token", "methods/soft_thinking_core.py",
  "x = (weights.to(emb.dtype) @ emb)[:, None]", "x = emb[top][:, None]", "test_equivalence_soft_thinking.py"),
 ("pause: one pause fewer in training", "methods/pause.py",
  "pauses = [fmt.tokenizer.convert_tokens_to_ids(PAUSE)] * n_pauses", "pauses = [fmt.tokenizer.convert_tokens_to_ids(PAUSE)] * (n_pauses - 1)", "test_equivalence_pause.py"),
 ("pause/sft: training batch left-padded", "harness/batching.py",
  'ids, mask = pad([r["input_ids"] for r in rows], pad_id)', 'ids, mask = pad([r["input_ids"] for r in rows], pad_id, "left")', "test_equivalence_pause.py"),
]


def main(only: list[str]) -> int:
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                      text=True).stdout.strip():
        sys.exit("uncommitted changes: commit or stash them first (this script edits and restores source files)")
    missed = 0
    for i, (name, path, old, new, test) in enumerate(SABOTAGES):
        if only and str(i) not in only:
            continue
        f = ROOT / path
        text = f.read_text()
        assert text.count(old) == 1, f"{name}: the original line is not in {path} (once)"
        print(f"{i:2d} sabotaging {path} ...", end=" ", flush=True)
        f.write_text(text.replace(old, new))
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", f"tests/{test}"],
                               cwd=ROOT, capture_output=True, text=True)
        finally:
            f.write_text(text)
        rel = [m.group(1) for m in re.finditer(r"Relative difference: (\S+)", r.stdout)]
        detail = f"loss rel. diff {', '.join(f'{float(x):.2g}' for x in rel)}" if rel else next(
            (line.strip() for line in r.stdout.splitlines() if line.startswith("E ")), "")
        missed += r.returncode == 0
        print(f"{'CAUGHT' if r.returncode else 'MISSED'} | {name} | {r.stdout.strip().splitlines()[-1]} | {detail}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
