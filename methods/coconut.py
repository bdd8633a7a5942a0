"""coconut: reasoning in continuous thoughts (Hao et al., arXiv 2412.06769; facebookresearch/coconut).

Training starts from a CoT-SFT checkpoint and runs the multi-stage curriculum
(methods/coconut_curriculum.py): stage s replaces the first s reasoning steps with s*c thoughts,
each thought being the last hidden state of the previous position fed back as the next input
(methods/coconut_latent.py), with gradients through the chain. One shared-trainer stage per
curriculum stage, so the optimizer is reset at every stage switch. Inference: prompt + `<bot>` +
k thoughts + `<eot>` in one KV cache, then the answer decoded with that cache, batched.
"""
from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation, Problem
from nfbench.methods import coconut_curriculum as cur
from nfbench.methods.text_sft import FENCE, TextMethod

SPECIAL = ("<bot>", "<eot>", "<latent>")
WEIGHTS = "weights.pt"  # end-of-stage weights, kept for the latest finished stage (resume)


@dataclass
class CoconutConfig:
    # curriculum (the reference's ProsQA defaults; GSM8k used c_thought=2, epochs_per_stage=3,
    # max_latent_stage=3, num_epochs=25)
    c_thought: int = 1  # continuous thoughts per removed reasoning step
    epochs_per_stage: int = 5
    max_latent_stage: int = 6  # past it every step is removed (and c*max_latent_stage thoughts used)
    num_epochs: int = 50  # total, counting the final all-latent stage's epochs
    start_epoch: int | None = None  # None: skip stage 0 (= CoT SFT) when initialised from a checkpoint
    pad_latent_to_max: bool = True  # thoughts depend on the stage only (fixed k at inference)
    uniform_prob: float = 0.0  # chance of training a sample at a uniformly drawn stage instead
    steps_per_stage: int | None = None  # cap on optimizer steps per stage (CPU budgets); None = epochs
    require_cot_init: bool = True  # refuse to start from a raw backbone (the paper initialises from CoT)
    init_token: str | None = "<<"  # new tokens' embeddings copy this token's, as the reference (None = eos)
    lr_schedule: str = "constant"  # the reference's AdamW has no scheduler ("cosine": decay per stage)
    step_separator: str | None = None  # None: ";" (compact synth format) or "\n" (chat)
    # inference
    n_latents: int | None = None  # None: the count of the last trained stage (checkpoint.json)
    val_max_new_tokens: int = 96
    zero_shot: bool = False  # (unused: Coconut needs training; kept for the shared loader)
    answer_marker: str | None = None


def split_steps(reasoning: str, sep: str) -> list[str]:
    """Reasoning text -> steps, each keeping its separator so that the steps concatenate back."""
    parts = reasoning.split(sep)
    steps = [p + sep for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if len(steps) > 1 and not steps[-1].strip():  # trailing newline: part of the last step
        steps[-2] += steps.pop()
    return [s for s in steps if s]


class StageData:
    """The training set of one stage: built on access (uniform stage mixing draws per sample)."""

    def __init__(self, samples: list[tuple[list[int], list[list[int]], list[int]]], stage: int,
                 ids: dict[str, int], cfg: CoconutConfig, seed: int):
        self.samples, self.stage, self.ids, self.cfg, self.seed = samples, stage, ids, cfg, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> cur.Example:
        q, steps, answer = self.samples[i]
        rng = random.Random(f"{self.seed}/{self.stage}/{i}")
        return cur.build_example(q, steps, answer, self.stage, self.ids, max_latent_stage=self.cfg.max_latent_stage,
                                 c_thought=self.cfg.c_thought, pad_latent_to_max=self.cfg.pad_latent_to_max,
                                 rng=rng, uniform_prob=self.cfg.uniform_prob)


def collate_fn(pad_id: int):
    def collate(examples: list[cur.Example]) -> dict[str, torch.Tensor]:
        b = cur.collate(examples, pad_id)
        return {"input_ids": torch.tensor(b.input_ids), "labels": torch.tensor(b.labels),
                "attention_mask": torch.tensor(b.attention_mask)}
    return collate


def latent_loss(latent_id: int):
    from nfbench.methods.coconut_latent import latent_forward

    def loss_fn(model, batch):
        logits, passes = latent_forward(model, batch["input_ids"], batch["attention_mask"], latent_id)
        labels = batch["labels"]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                 ignore_index=cur.IGNORE)
        return loss, {"passes": float(passes), "target_tokens": float((labels != cur.IGNORE).sum())}
    return loss_fn


@register_method("coconut")
class CoconutMethod(TextMethod):
    """Coconut: continuous thoughts (last hidden state fed back) learned by a CoT->latent curriculum."""

    config_class = CoconutConfig
    requires_training = True
    reasons = True

    # --- tokens / formats -------------------------------------------------------------------------
    def special_ids(self) -> dict[str, int]:
        """Ids of `<bot>`, `<eot>`, `<latent>`, added to the backbone (a checkpoint already has them)."""
        if getattr(self, "_ids", None) is None:
            from nfbench.harness.backbone import add_special_tokens

            bot, eot, latent = add_special_tokens(self.backbone, list(SPECIAL), init_from=self.config.init_token)
            self._ids = {"bot": bot, "eot": eot, "latent": latent}
        return self._ids

    def separator(self) -> str:
        return self.config.step_separator or (";" if self.compact else "\n")

    def encode_sample(self, ex: Any) -> tuple[list[int], list[list[int]], list[int]]:
        """(question ids, step ids, answer ids + eos) in the CoT model's format."""
        tok = self.backbone.tokenizer
        enc = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        question = self._prompt_ids(self.prompt_text(ex.prompt))
        if self.compact:
            steps, answer = split_steps(ex.reasoning, self.separator()), ex.solution
        else:  # chat: prose steps, then the fenced program (text_sft.TextMethod.target_text)
            steps = split_steps(ex.reasoning.strip() + "\n\n", self.separator()) if ex.reasoning else []
            answer = f"{FENCE}python\n{ex.solution.strip()}\n{FENCE}"
        return question, [enc(s) for s in steps], enc(answer) + [tok.eos_token_id]

    # --- training ---------------------------------------------------------------------------------
    def weights_spec(self) -> str:
        if self.training and not self.run_config.init_from:
            from nfbench.harness.checkpoints import latest_checkpoint

            cot = latest_checkpoint("cot", self.run_config.backbone)
            if cot is not None:
                self.run_config.init_from = str(cot)
            elif self.config.require_cot_init:
                raise UserError(f"coconut starts from a CoT-SFT checkpoint and none exists for backbone "
                                f"'{self.run_config.backbone}'",
                                f"train one first: nfbench train cot --backbone {self.run_config.backbone} "
                                "(or pass --set init_from=DIR, or method_config.require_cot_init=false)")
        return super().weights_spec()

    def train(self, train_config: Any) -> Path:
        from nfbench.harness import checkpoints as ck
        from nfbench.harness.config import to_dict
        from nfbench.harness.trainer import Stage, train_stage

        cfg, mc = train_config, self.config
        bb = self.backbone  # loads init_from (the CoT checkpoint) or the raw backbone
        ids = self.special_ids()
        examples = self.load_examples(cfg)
        samples = [self.encode_sample(e) for e in examples]
        ckpt = ck.checkpoint_dir(self.name, cfg.name, cfg.out)
        start_epoch = mc.start_epoch if mc.start_epoch is not None else (mc.epochs_per_stage if cfg.init_from else 0)
        runs = cur.stage_runs(mc.num_epochs, mc.epochs_per_stage, start_epoch)
        if cfg.stage is not None:
            runs = [r for r in runs if str(r[0]) == str(cfg.stage)]
        if not runs:
            raise UserError(f"the coconut curriculum has no stage to train (num_epochs={mc.num_epochs}, "
                            f"start_epoch={start_epoch}, stage={cfg.stage})", "raise method_config.num_epochs")
        n_steps = [len(s[1]) for s in samples]
        last_stage = runs[-1][0]
        k = cur.layout(max(n_steps), last_stage, mc.max_latent_stage, mc.c_thought, True)[1]
        data = {"source": cfg.data, "n": len(examples), "sha256": ck.data_sha256(e.to_dict() for e in examples)}
        info = dict(method=self.name, backbone=cfg.backbone, train_config=to_dict(cfg), data=data,
                    init_from=cfg.init_from, special_tokens=dict(zip(("bot", "eot", "latent"), SPECIAL)),
                    stages=[{"stage": s, "epochs": e} for s, e in runs], inference_latents=k,
                    step_separator=self.separator(), mean_steps=sum(n_steps) / max(1, len(n_steps)))
        ck.write_info(ckpt, complete=False, **info)
        begin, history, done_weights = time.time(), [], None
        for stage, epochs in runs:
            out = ckpt / f"stage{stage}"
            if (out / "stage_done.json").is_file():  # finished before an interruption: resume after it
                # (a finished stage without weights was followed by one that saved its own)
                done_weights = out / WEIGHTS if (out / WEIGHTS).is_file() else done_weights
                continue
            if done_weights is not None:
                bb.model.load_state_dict(torch.load(done_weights, map_location=bb.device))
            trainer_cfg = replace(cfg.trainer, epochs=float(epochs), max_steps=mc.steps_per_stage,
                                  schedule=mc.lr_schedule)
            self._val_latents = cur.layout(max(n_steps), stage, mc.max_latent_stage, mc.c_thought, True)[1]
            job = Stage(name=f"coconut-stage{stage}", out_dir=out, model=bb.model.train(),
                        dataset=StageData(samples, stage, ids, mc, cfg.seed),
                        collate=collate_fn(bb.tokenizer.pad_token_id), loss_fn=latent_loss(ids["latent"]),
                        config=trainer_cfg, validate=self.validator(cfg), seed=cfg.seed + stage)
            result = train_stage(job)
            bb.model = job.model  # unwrapped by the trainer
            torch.save(bb.model.state_dict(), out / WEIGHTS)
            if done_weights is not None and done_weights.parent != out:
                done_weights.unlink(missing_ok=True)  # only the latest stage's weights are needed
            done_weights = out / WEIGHTS
            history.append({"stage": stage, "steps": result.steps, **result.last_metrics})
        if done_weights is not None:
            bb.model.load_state_dict(torch.load(done_weights, map_location=bb.device))
        bb.model.eval()
        bb.save(ckpt, backbone=cfg.backbone)
        ck.write_info(ckpt, complete=True, history=history, train_seconds=round(time.time() - begin, 1), **info)
        return ckpt

    # --- generation -------------------------------------------------------------------------------
    def n_latents(self) -> int:
        from nfbench.harness.checkpoints import read_info

        if self.config.n_latents is not None:
            return self.config.n_latents
        if getattr(self, "_val_latents", None) is not None and self.training:
            return self._val_latents
        info = read_info(self.checkpoint) if self.checkpoint else None
        if info and "inference_latents" in info:
            return int(info["inference_latents"])
        return cur.inference_latents(self.config.max_latent_stage, self.config.c_thought)

    def _generate_batch(self, jobs: list[tuple[Problem, int]], seed: int, max_new_tokens: int) -> list[Generation]:
        from nfbench.harness.generation import DecodeState, Sampling, decode, left_pad, make_generator
        from nfbench.methods.coconut_latent import think

        bb, tok = self.backbone, self.backbone.tokenizer
        ids = self.special_ids()
        k = self.n_latents()
        prompts = [self.prompt_text(self.problem_prompt(p)) for p, _ in jobs]
        prompt_ids, mask = left_pad([self._prompt_ids(p) for p in prompts], tok.pad_token_id, bb.device)
        meter = self.meter(len(jobs), phase="reasoning")
        state = DecodeState.empty(bb.model, len(jobs))
        out = think(bb.model, state, prompt_ids, mask, k, ids["bot"], ids["eot"], meter=meter)
        for i in range(len(jobs)):
            meter.set_phase(i, "answer")
        sampling = Sampling() if self.training else self.sampling()  # validation decodes greedily
        stop = {tok.eos_token_id} | ({tok.pad_token_id} if self.compact else set())
        tokens = decode(bb.model, state, out.logits, max_new_tokens=max_new_tokens, sampling=sampling,
                        stop_ids=stop, generator=make_generator(bb.device, seed), meter=meter)
        costs = meter.results()
        gens = []
        for (problem, idx), prompt, toks, cost in zip(jobs, prompts, tokens, costs):
            text_steps = self.leftover_reasoning(problem, toks)
            # steps the model still writes in text (an early-stage model) are reasoning, not answer
            cost.reasoning_positions += text_steps
            cost.answer_tokens -= text_steps
            text = tok.decode(toks, skip_special_tokens=True)
            gens.append(Generation(task_id=problem.task_id, sample_idx=idx, prompt=prompt, raw_output=text,
                                   solution=self.solution(problem, tok.decode(toks[text_steps:], skip_special_tokens=True)),
                                   reasoning=f"<{k} continuous thoughts>" + tok.decode(toks[:text_steps]),
                                   cost=cost, extra={"latents": k, "text_reasoning_tokens": text_steps,
                                                     "format": "compact" if self.compact else "chat"}))
        return gens

    def leftover_reasoning(self, problem: Problem, toks: list[int]) -> int:
        """Tokens of text reasoning before the answer: up to the first marker line that is not the
        answer itself (compact) or up to the code fence (chat)."""
        tok = self.backbone.tokenizer
        text = ""
        for n, t in enumerate(toks):
            text += tok.decode([t])
            if self.compact and text.endswith("\n"):
                return 0 if f"def {problem.entry_point}" in text else n + 1
            if not self.compact and text.endswith(FENCE):
                return max(0, n + 1 - len(tok(FENCE, add_special_tokens=False)["input_ids"]))
        return 0
