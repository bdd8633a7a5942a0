"""NF-CoT training: vae -> stage1 -> stage2 -> rl, each a resumable shared-trainer stage.

Checkpoint layout (results/checkpoints/nfcot/<name>/):
  vae/      the CoT VAE (vae.pt), its metrics, reconstruction quality (recon.json) and the latent
            targets of every training example (targets.pt: standardised posterior means)
  stage1/   backbone frozen: shallow flow, NF head and projections train      } each a complete,
  stage2/   everything trains                                                 } loadable checkpoint
  rl/       latent GRPO on sandbox rewards, shallow blocks frozen             } (weights + nfcot.pt)
  .         a copy of the last finished stage + vae.pt + checkpoint.json (what `nfbench run` uses)
`--stage X` runs X alone; it needs the stages before it to be finished.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from nfbench.harness import checkpoints as ck
from nfbench.harness.config import TrainerConfig, to_dict
from nfbench.harness.errors import UserError
from nfbench.harness.trainer import Stage, train_stage
from nfbench.methods.nfcot.data import Example, build_examples, cot_batch, stream_batch
from nfbench.methods.nfcot.model import FlowShape, NFCoTModel
from nfbench.methods.nfcot.vae import CoTVAE, VAEConfig

STAGES = ("vae", "stage1", "stage2", "rl")
EXTRAS = "nfcot.pt"  # flow, NF head, projections, target statistics (next to the backbone weights)
VAE_FILE = "vae.pt"
TARGETS = "targets.pt"
FINISHED = "stage_done.json"  # written by the shared trainer


def stage_schedule(base: TrainerConfig, overrides: Any) -> TrainerConfig:
    return replace(base, **{k: v for k, v in asdict(overrides).items() if v is not None})


def flow_shape(mc: Any) -> FlowShape:
    return FlowShape(slots=mc.slots, dim=mc.dim, blocks=mc.flow_blocks, width=mc.flow_width,
                     layers=mc.flow_layers, heads=mc.flow_heads, head_width=mc.head_width)


# --- saving / loading ---------------------------------------------------------------------------
def save_model(bb: Any, model: NFCoTModel, out: Path, stats: dict[str, torch.Tensor], **info: Any) -> None:
    bb.model = model.backbone
    bb.save(out, **info)
    extras = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    torch.save({"shape": asdict(model.shape), "state": extras, **stats}, out / EXTRAS)


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


def _finished(out: Path, product: str) -> bool:
    """A stage is done when the trainer finished it AND its product was written; a crash in
    between leaves the trainer's marker only: drop it so the stage resumes from its saved state."""
    if (out / FINISHED).is_file() and not (out / product).is_file():
        (out / FINISHED).unlink()
    return (out / FINISHED).is_file()


def _require(ckpt: Path, stage: str) -> Path:
    d = ckpt / stage
    if not _finished(d, TARGETS if stage == "vae" else EXTRAS):
        raise UserError(f"stage '{stage}' of {ckpt} has not finished",
                        f"run it first: nfbench train nfcot --stage {stage} (same --name/--config)")
    return d


# --- the pipeline -------------------------------------------------------------------------------
class Pipeline:
    def __init__(self, method: Any, cfg: Any):
        self.method, self.cfg, self.mc = method, cfg, method.config
        unknown = [s for s in self.mc.stages if s not in STAGES]
        if unknown or not self.mc.stages:
            raise UserError(f"unknown NF-CoT stage(s): {unknown or 'none given'}", f"stages are {', '.join(STAGES)}")
        if cfg.stage and cfg.stage not in STAGES:
            raise UserError(f"unknown stage '{cfg.stage}' for nfcot", f"choose one of: {', '.join(STAGES)}")
        self.ckpt = ck.checkpoint_dir("nfcot", cfg.name, cfg.out)
        self.examples_sft = method.load_examples(cfg)
        self.info = dict(method="nfcot", backbone=cfg.backbone, train_config=to_dict(cfg),
                         data={"source": cfg.data, "n": len(self.examples_sft),
                               "sha256": ck.data_sha256(e.to_dict() for e in self.examples_sft)})

    def run(self) -> Path:
        todo = [self.cfg.stage] if self.cfg.stage else list(self.mc.stages)
        if not (self.ckpt / ck.INFO).is_file():
            ck.write_info(self.ckpt, complete=False, **self.info)
        start = time.time()
        for name in todo:
            getattr(self, name)()
        last = [s for s in self.mc.stages if s != "vae" and (self.ckpt / s / FINISHED).is_file()]
        if last:
            self._publish(last[-1], complete=last[-1] == self.mc.stages[-1], seconds=time.time() - start)
        return self.ckpt

    def _publish(self, stage: str, complete: bool, seconds: float) -> None:
        """The checkpoint root holds a copy of the last finished stage (what `nfbench run` loads)."""
        src = self.ckpt / stage
        for f in src.iterdir():
            if f.is_file() and f.name not in ("metrics.csv", FINISHED):
                shutil.copy2(f, self.ckpt / f.name)
        if (self.ckpt / "vae" / VAE_FILE).is_file():
            shutil.copy2(self.ckpt / "vae" / VAE_FILE, self.ckpt / VAE_FILE)
        metrics = {s: json.loads((self.ckpt / s / FINISHED).read_text()).get("metrics", {})
                   for s in STAGES if (self.ckpt / s / FINISHED).is_file()}
        recon = self.ckpt / "vae" / "recon.json"
        ck.write_info(self.ckpt, complete=complete, final_stage=stage, stage_metrics=metrics,
                      vae_reconstruction=json.loads(recon.read_text()) if recon.is_file() else None,
                      train_seconds=round(seconds, 1), **self.info)

    # --- vae ------------------------------------------------------------------------------------
    def _examples(self) -> list[Example]:
        return build_examples(self.examples_sft, self.method.backbone.tokenizer, self.mc.max_cot_tokens)

    def vae(self) -> None:
        out = self.ckpt / "vae"
        tok = self.method.backbone.tokenizer
        examples = self._examples()
        max_len = max(len(e.cot) for e in examples)
        vcfg = VAEConfig(vocab_size=len(tok), slots=self.mc.slots, dim=self.mc.dim, width=self.mc.vae_width,
                         layers=self.mc.vae_layers, heads=self.mc.vae_heads, max_len=max_len,
                         chunked=self.mc.vae_chunked, beta=self.mc.vae_beta, decoder=self.mc.vae_decoder)
        torch.manual_seed(self.cfg.seed)
        vae = CoTVAE(vcfg, tok.pad_token_id, tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id)
        pad_id = tok.pad_token_id
        holdout = self._holdout(examples)

        def loss_fn(model: Any, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
            parts = model(*batch)
            return parts["loss"], {k: float(v.detach()) for k, v in parts.items() if k != "loss"}

        stage = Stage(name="nfcot-vae", out_dir=out, model=vae, dataset=examples,
                      collate=lambda rows: cot_batch(rows, pad_id), loss_fn=loss_fn,
                      config=stage_schedule(self.cfg.trainer, self.mc.vae_trainer),
                      validate=lambda m: reconstruction(m, holdout, pad_id), seed=self.cfg.seed)
        if _finished(out, TARGETS):
            return
        train_stage(stage)
        vae = stage.model.eval()
        torch.save({"config": asdict(vcfg), "state": vae.state_dict(), "pad_id": vae.pad_id, "bos_id": vae.bos_id},
                   out / VAE_FILE)
        (out / "recon.json").write_text(json.dumps(reconstruction(vae, holdout, pad_id), indent=2))
        torch.save(encode_targets(vae, examples, pad_id), out / TARGETS)

    def _holdout(self, examples: list[Example]) -> list[Example]:
        """Validation CoTs for the reconstruction metric: the task's validation split if any."""
        task = self.method.task
        if task is not None and "validation" in task.splits():
            from nfbench.harness.sft_data import task_examples

            val = task_examples(task, "validation")[:200]
            return build_examples(val, self.method.backbone.tokenizer, self.mc.max_cot_tokens)
        return examples[-min(200, max(1, len(examples) // 20)):]

    # --- stage 1 / stage 2 ----------------------------------------------------------------------
    def _targets(self) -> dict[str, torch.Tensor]:
        return torch.load(_require(self.ckpt, "vae") / TARGETS, map_location="cpu", weights_only=True)

    def stage1(self) -> None:
        targets = self._targets()
        bb = self.method.backbone
        torch.manual_seed(self.cfg.seed)
        model = NFCoTModel(bb.model, flow_shape(self.mc)).to(bb.device)
        model.backbone.requires_grad_(False)  # stage 1: only the flow, NF head and projections learn
        self._supervised("stage1", bb, model, targets, self.mc.stage1_trainer)

    def stage2(self) -> None:
        targets = self._targets()
        if "stage1" in self.mc.stages:
            bb, model, _ = load_model(_require(self.ckpt, "stage1"), self.cfg.device, self._dtype())
        else:  # stage 1 skipped (ablation): fresh flow and head on the starting backbone
            bb = self.method.backbone
            torch.manual_seed(self.cfg.seed)
            model = NFCoTModel(bb.model, flow_shape(self.mc)).to(bb.device)
        model.requires_grad_(True)
        self._supervised("stage2", bb, model, targets, self.mc.stage2_trainer)

    def _supervised(self, name: str, bb: Any, model: NFCoTModel, targets: dict[str, torch.Tensor], sched: Any) -> None:
        out = self.ckpt / name
        if _finished(out, EXTRAS):
            return
        examples = self._examples()
        e = targets["e"]
        if e.shape[0] != len(examples) or tuple(e.shape[1:]) != (self.mc.slots, self.mc.dim):
            raise UserError(f"the VAE targets in {self.ckpt / 'vae'} do not match this data/config",
                            "retrain the VAE: delete that folder or use another --name")
        pad_id, noise = bb.tokenizer.pad_token_id, self.mc.noise_std

        def collate(rows: list[Example]) -> tuple[Any, torch.Tensor]:
            return stream_batch(rows, pad_id), e[[r.index for r in rows]]

        def loss_fn(m: Any, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
            dev = next(m.parameters()).device
            parts = m(batch[0].to(dev), batch[1].to(dev), noise)
            return parts["loss"], {k: float(v.detach()) for k, v in parts.items() if k != "loss"}

        self.method.use_model(bb, model)
        schedule = stage_schedule(self.cfg.trainer, sched)
        stage = Stage(name=f"nfcot-{name}", out_dir=out, model=model.train(), dataset=examples,
                      collate=collate, loss_fn=loss_fn, config=schedule,
                      params=[p for p in model.parameters() if p.requires_grad],
                      validate=self.method.validator(self.cfg, schedule.eval_problems), seed=self.cfg.seed)
        result = train_stage(stage)
        stats = {"target_mean": targets["mean"], "target_std": targets["std"]}
        save_model(bb, stage.model.eval(), out, stats, backbone=self.cfg.backbone, nfcot_stage=name,
                   steps=result.steps)

    # --- rl -------------------------------------------------------------------------------------
    def rl(self) -> None:
        from nfbench.methods.nfcot.rl import run_rl

        out = self.ckpt / "rl"
        if _finished(out, EXTRAS):
            return
        src = _require(self.ckpt, "stage2")
        bb, model, stats = load_model(src, self.cfg.device, self._dtype())
        _, ref, _ = load_model(src, self.cfg.device, self._dtype())
        result = run_rl(self.method, self.cfg, bb, model, ref, out)
        save_model(bb, result.eval(), out, stats, backbone=self.cfg.backbone, nfcot_stage="rl")

    def _dtype(self) -> str:
        return "float32" if self.cfg.dtype == "auto" else self.cfg.dtype


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
