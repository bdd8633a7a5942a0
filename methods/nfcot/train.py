"""NF-CoT's stages: vae -> stage1 -> stage2 -> rl, each a shared-trainer run (methods/nfcot/__init__.py
lists them with the paper's trainer settings).

Checkpoint layout (results/checkpoints/nfcot/<name>/):
  vae/      the CoT VAE (vae.pt), its reconstruction quality (recon.json) and the latent targets of
            every training example (targets.pt: standardised posterior means)
  stage1/   backbone frozen: shallow flow, NF head and projections train      } each a complete,
  stage2/   everything trains                                                 } loadable checkpoint
  rl/       latent GRPO on sandbox rewards, shallow blocks frozen             } (weights + nfcot.pt + vae.pt)
  .         a copy of the last finished stage + checkpoint.json (what `nfbench run` uses)
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch

from nfbench.harness.errors import UserError
from nfbench.harness.stages import StageRun, Trained
from nfbench.methods.nfcot.data import Example, build_examples, cot_batch, stream_batch
from nfbench.methods.nfcot.model import FlowShape, NFCoTModel
from nfbench.methods.nfcot.vae import CoTVAE, VAEConfig

EXTRAS = "nfcot.pt"  # flow, NF head, projections, target statistics (next to the backbone weights)
VAE_FILE = "vae.pt"
TARGETS = "targets.pt"
StageTrainer = Callable[[StageRun], Trained]


def flow_shape(mc: Any) -> FlowShape:
    return FlowShape(slots=mc.slots, dim=mc.dim, blocks=mc.flow_blocks, width=mc.flow_width,
                     layers=mc.flow_layers, heads=mc.flow_heads, head_width=mc.head_width)


# --- saving / loading ---------------------------------------------------------------------------
def save_model(bb: Any, model: NFCoTModel, out: Path, stats: dict[str, torch.Tensor], vae: Path, **info: Any) -> None:
    """A loadable NF-CoT checkpoint: the backbone, nfcot.pt (everything else) and the VAE it was trained on."""
    bb.model = model.backbone
    bb.save(out, **info)
    extras = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    torch.save({"shape": asdict(model.shape), "state": extras, **stats}, out / EXTRAS)
    shutil.copy2(vae, out / VAE_FILE)


def load_model(path: Path, device: str, dtype: str) -> tuple[Any, NFCoTModel, dict[str, torch.Tensor]]:
    from nfbench.harness.backbone import load_backbone

    if not (path / EXTRAS).is_file():
        raise UserError(f"{path} is not an NF-CoT checkpoint (no {EXTRAS})",
                        "train one: nfbench train nfcot (or pass its --checkpoint)")
    bb = load_backbone(str(path), device=device, dtype=dtype)
    blob = torch.load(path / EXTRAS, map_location="cpu", weights_only=True)
    model = NFCoTModel(bb.model, FlowShape(**blob["shape"]))
    missing = model.load_state_dict(blob["state"], strict=False).missing_keys
    if any(not k.startswith("backbone.") for k in missing):
        raise UserError(f"{path / EXTRAS} does not match this code's NF-CoT modules", "retrain the checkpoint")
    model.to(device=bb.device)
    model.flow.float(), model.head.float()
    stats = {k: blob[k] for k in ("target_mean", "target_std") if k in blob}
    return bb, model, stats


def load_vae(path: Path, device: Any) -> CoTVAE:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    vae = CoTVAE(VAEConfig(**blob["config"]), blob["pad_id"], blob["bos_id"])
    vae.load_state_dict(blob["state"])
    return vae.to(device).eval()


def examples_of(run: StageRun, tokenizer: Any, mc: Any) -> list[Example]:
    return build_examples(run.ctx.examples, run.ctx.format(tokenizer), mc.max_cot_tokens)


def _parts_loss(model: Any, *inputs: Any) -> tuple[torch.Tensor, dict[str, float]]:
    parts = model(*inputs)
    return parts["loss"], {k: float(v.detach()) for k, v in parts.items() if k != "loss"}


# --- vae ----------------------------------------------------------------------------------------
def vae_stage(mc: Any) -> StageTrainer:
    def train(run: StageRun) -> Trained:
        from nfbench.harness.trainer import Stage, train_stage

        tok = run.ctx.backbone().tokenizer
        examples = examples_of(run, tok, mc)
        vcfg = VAEConfig(vocab_size=len(tok), slots=mc.slots, dim=mc.dim, width=mc.vae_width, layers=mc.vae_layers,
                         heads=mc.vae_heads, max_len=max(len(e.cot) for e in examples), chunked=mc.vae_chunked,
                         beta=mc.vae_beta, decoder=mc.vae_decoder)
        torch.manual_seed(run.ctx.config.seed)
        vae = CoTVAE(vcfg, tok.pad_token_id, tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id)
        pad_id, holdout = tok.pad_token_id, _holdout(run, examples, tok, mc)
        stage = Stage(name="nfcot-vae", out_dir=run.out, model=vae, dataset=examples,
                      collate=lambda rows: cot_batch(rows, pad_id), loss_fn=lambda m, b: _parts_loss(m, *b),
                      config=run.trainer, validate=lambda m: reconstruction(m, holdout, pad_id), seed=run.ctx.config.seed)
        result = train_stage(stage)
        vae = stage.model.eval()
        recon = reconstruction(vae, holdout, pad_id)

        def save(out: Path) -> None:
            torch.save({"config": asdict(vcfg), "state": vae.state_dict(), "pad_id": vae.pad_id, "bos_id": vae.bos_id},
                       out / VAE_FILE)
            (out / "recon.json").write_text(json.dumps(recon, indent=2))
            torch.save(encode_targets(vae, examples, pad_id), out / TARGETS)

        return Trained(result.steps, result.last_metrics, save=save, info={"vae_reconstruction": recon})
    return train


def _holdout(run: StageRun, examples: list[Example], tok: Any, mc: Any) -> list[Example]:
    """Validation CoTs for the reconstruction metric: the task's validation split where it has chains
    of thought (synth), else the last training examples (a distilled set's chains are all in training)."""
    task = run.ctx.task
    if task is not None and "validation" in task.splits():
        from nfbench.harness.sft_data import task_examples

        held_out = [e for e in task_examples(task, "validation", require_reasoning=False)[:200] if e.reasoning]
        if held_out:
            return build_examples(held_out, run.ctx.format(tok), mc.max_cot_tokens)
    return examples[-min(200, max(1, len(examples) // 20)):]


# --- stage 1 / stage 2 ----------------------------------------------------------------------------
def stage1(mc: Any) -> StageTrainer:
    def train(run: StageRun) -> Trained:
        bb = run.ctx.backbone()
        torch.manual_seed(run.ctx.config.seed)
        model = NFCoTModel(bb.model, flow_shape(mc)).to(bb.device)
        model.backbone.requires_grad_(False)  # stage 1: only the flow, NF head and projections learn
        return _supervised(run, mc, bb, model)
    return train


def stage2(mc: Any) -> StageTrainer:
    def train(run: StageRun) -> Trained:
        bb, model, _ = load_model(run.dir("stage1"), run.ctx.config.device, run.ctx.dtype)
        model.requires_grad_(True)
        return _supervised(run, mc, bb, model)
    return train


def _supervised(run: StageRun, mc: Any, bb: Any, model: NFCoTModel) -> Trained:
    from nfbench.harness.trainer import Stage, train_stage
    from nfbench.methods.nfcot.generate import NFCoTGenerator

    targets = torch.load(run.dir("vae") / TARGETS, map_location="cpu", weights_only=True)
    examples = examples_of(run, bb.tokenizer, mc)
    e = targets["e"]
    if e.shape[0] != len(examples) or tuple(e.shape[1:]) != (mc.slots, mc.dim):
        raise UserError(f"the VAE targets in {run.dir('vae')} do not match this data/config",
                        "retrain the VAE: delete that folder or use another --name")
    pad_id, noise, fmt = bb.tokenizer.pad_token_id, mc.noise_std, run.ctx.format(bb.tokenizer)

    def collate(rows: list[Example]) -> tuple[Any, torch.Tensor]:
        return stream_batch(rows, pad_id), e[[r.index for r in rows]]

    def loss_fn(m: Any, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        dev = next(m.parameters()).device
        return _parts_loss(m, batch[0].to(dev), batch[1].to(dev), noise)

    validate = run.ctx.validator(run.trainer, lambda m: NFCoTGenerator(replace(bb, model=m.backbone), m, fmt, mc.t_z),
                                 mc.val_max_new_tokens)
    stage = Stage(name=f"nfcot-{run.spec.name}", out_dir=run.out, model=model.train(), dataset=examples,
                  collate=collate, loss_fn=loss_fn, config=run.trainer,
                  params=[p for p in model.parameters() if p.requires_grad], validate=validate, seed=run.ctx.config.seed)
    result = train_stage(stage)
    stats = {"target_mean": targets["mean"], "target_std": targets["std"]}
    trained = stage.model.eval()
    return Trained(result.steps, result.last_metrics, save=lambda out: save_model(
        bb, trained, out, stats, run.dir("vae") / VAE_FILE, backbone=run.ctx.config.backbone, nfcot_stage=run.spec.name))


# --- rl -------------------------------------------------------------------------------------------
def rl_stage(mc: Any) -> StageTrainer:
    def train(run: StageRun) -> Trained:
        from nfbench.methods.nfcot.rl import run_rl

        src = run.dir("stage2")
        bb, model, stats = load_model(src, run.ctx.config.device, run.ctx.dtype)
        _, ref, _ = load_model(src, run.ctx.config.device, run.ctx.dtype)
        steps, metrics, policy = run_rl(run, mc, bb, model, ref)
        return Trained(steps, metrics, save=lambda out: save_model(
            bb, policy.eval(), out, stats, run.dir("vae") / VAE_FILE, backbone=run.ctx.config.backbone, nfcot_stage="rl"))
    return train


# --- VAE helpers --------------------------------------------------------------------------------
@torch.no_grad()
def reconstruction(vae: CoTVAE, examples: list[Example], pad_id: int) -> dict[str, float]:
    """Greedy decode of the posterior means: token accuracy and exact-match rate of whole CoTs."""
    vae.eval()
    dev = next(vae.parameters()).device
    hits = total = exact = 0
    for i in range(0, len(examples), 128):
        ids, mask = (t.to(dev) for t in cot_batch(examples[i:i + 128], pad_id))
        mu, _ = vae.encode(ids, mask)
        rec = vae.reconstruct(mu, ids.shape[1])
        ok = (rec == ids) | (mask == 0)
        hits += int(((rec == ids) & (mask == 1)).sum())
        total += int(mask.sum())
        exact += int(ok.all(1).sum())
    return {"recon_token_acc": hits / max(1, total), "recon_exact": exact / max(1, len(examples))}


@torch.no_grad()
def encode_targets(vae: CoTVAE, examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Posterior means of every training CoT, standardised per dimension (so that the flow's
    noise augmentation, sigma 0.3 by default, is relative to unit-scale targets)."""
    dev = next(vae.parameters()).device
    parts = []
    for i in range(0, len(examples), 256):
        ids, mask = (t.to(dev) for t in cot_batch(examples[i:i + 256], pad_id))
        parts.append(vae.encode(ids, mask)[0].float().cpu())
    mu = torch.cat(parts)
    mean, std = mu.mean(dim=(0, 1)), mu.std(dim=(0, 1)).clamp(min=1e-4)
    return {"e": (mu - mean) / std, "mean": mean, "std": std}
