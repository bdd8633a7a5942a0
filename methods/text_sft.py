"""What `cot` and `direct` share: text formats, SFT encoding/collation, KV-cached generation, training.

Two formats, chosen by the backbone:
  compact  (no chat template, e.g. tiny-llama on synth): `<bos>prompt reasoning answer<eos>`, where
           the reasoning ends with a newline (the task's `format_example`), so the first generated
           newline ends the reasoning phase.
  chat     (instruct models): the chat template around an instruction + the problem; the model
           reasons in prose and answers in a ```python block, whose opening fence ends the reasoning.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.types import Generation, Problem
from nfbench.harness.sft_data import SFTExample
from nfbench.methods.base import BackboneMethod
from nfbench.tasks.prompting import extract_solution

COT_INSTRUCTION = ("Solve the following Python programming problem. First think step by step about "
                   "how to solve it, then give the complete solution in one ```python code block.")
DIRECT_INSTRUCTION = ("Solve the following Python programming problem. Reply with only the complete "
                      "solution in one ```python code block, without explanation.")
COT_TRIGGER = "Let's think step by step."
FENCE = "```"


@dataclass
class TextConfig:
    zero_shot: bool = False  # use the untrained backbone even if a trained checkpoint exists
    answer_marker: str | None = None  # what ends the reasoning; None = "\n" (compact) or "```" (chat)
    val_max_new_tokens: int = 192  # generation length for validation during training


class TextMethod(BackboneMethod):
    """Reason in text (or not), then answer; trained by SFT on (prompt, [reasoning], answer)."""

    config_class = TextConfig
    reasons: bool = True

    # --- formats ------------------------------------------------------------------------------
    @property
    def trained(self) -> bool:
        """SFT'd weights (or training them): prompts exactly as in the SFT data, no zero-shot trigger."""
        return self.training or (self.backbone is not None and self.checkpoint is not None)

    @property
    def compact(self) -> bool:
        return not self.backbone.chat

    def prompt_text(self, problem_prompt: str) -> str:
        if self.compact:
            return problem_prompt
        instruction = COT_INSTRUCTION if self.reasons else DIRECT_INSTRUCTION
        messages = [{"role": "user", "content": f"{instruction}\n\n{problem_prompt.strip()}"}]
        text = self.backbone.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # zero-shot CoT trigger (Kojima et al. 2022) opens the reply, so small models do reason first
        return text + COT_TRIGGER if self.reasons and not self.trained else text

    def problem_prompt(self, problem: Problem) -> str:
        if self.compact and hasattr(self.task, "format_example"):
            return self.task.format_example(problem)[0]
        return problem.prompt

    def target_text(self, ex: SFTExample) -> str:
        """What the model learns to write after the prompt."""
        if self.compact:
            return (ex.reasoning if self.reasons else "") + ex.solution
        code = f"{FENCE}python\n{ex.solution.strip()}\n{FENCE}"
        return (ex.reasoning.strip() + "\n\n" + code) if self.reasons and ex.reasoning else code

    def marker(self) -> str:
        return self.config.answer_marker or ("\n" if self.compact else FENCE)

    def solution(self, problem: Problem, answer: str) -> str:
        if self.compact and hasattr(self.task, "parse_answer"):
            return self.task.parse_answer(problem, answer)
        return extract_solution(problem, answer)

    def _prompt_ids(self, text: str) -> list[int]:
        tok = self.backbone.tokenizer
        ids = tok(text, add_special_tokens=False)["input_ids"]
        return ([tok.bos_token_id] if self.compact and tok.bos_token_id is not None else []) + ids

    # --- generation -------------------------------------------------------------------------------
    def generate(self, problems: list[Problem], n: int, seed: int) -> list[Generation]:
        out: list[Generation] = []
        batch_size = getattr(self.run_config, "batch_size", 8)
        for b, jobs in enumerate(self.sample_batches(problems, n, batch_size)):
            out.extend(self._generate_batch(jobs, seed * 1009 + b, getattr(self.run_config, "max_new_tokens", 512)))
        return out

    def _generate_batch(self, jobs: list[tuple[Problem, int]], seed: int, max_new_tokens: int) -> list[Generation]:
        from nfbench.harness.generation import generate_ids

        bb, tok = self.backbone, self.backbone.tokenizer
        prompts = [self.prompt_text(self.problem_prompt(p)) for p, _ in jobs]
        meter = self.meter(len(jobs), phase="reasoning" if self.reasons else "answer")
        marker = self.marker()
        texts = [""] * len(jobs)
        split_at = [0 if not self.reasons else -1] * len(jobs)  # token index where the answer starts
        counts = [0] * len(jobs)

        def on_token(i: int, t: int) -> bool:
            counts[i] += 1
            texts[i] += tok.decode([t])
            if split_at[i] < 0:
                if marker in texts[i]:
                    # compact: the newline closes the reasoning; chat: the fence opens the answer
                    opens = marker != "\n"
                    split_at[i] = counts[i] - 1 if opens else counts[i]
                    meter.set_phase(i, "answer", move_last=1 if opens else 0)
                return False
            # chat answers stop once their code block closes
            return not self.compact and texts[i].count(FENCE) >= 2 and texts[i].rstrip().endswith(FENCE)

        stop = {tok.eos_token_id} | ({tok.pad_token_id} if self.compact else set())
        ids = generate_ids(bb.model, [self._prompt_ids(p) for p in prompts], tok.pad_token_id,
                           max_new_tokens=max_new_tokens, sampling=self.sampling() if not self.training else
                           _greedy(), stop_ids=stop, seed=seed, meter=meter, on_token=on_token)
        costs = meter.results()
        gens = []
        for (problem, idx), prompt, out, cut, cost in zip(jobs, prompts, ids, split_at, costs):
            cut = len(out) if cut < 0 else cut  # never reached the answer
            reasoning = tok.decode(out[:cut], skip_special_tokens=True) if self.reasons else None
            answer = tok.decode(out[cut:], skip_special_tokens=True)
            gens.append(Generation(task_id=problem.task_id, sample_idx=idx, prompt=prompt,
                                   raw_output=tok.decode(out, skip_special_tokens=True),
                                   solution=self.solution(problem, answer), reasoning=reasoning, cost=cost,
                                   extra={"format": "compact" if self.compact else "chat"}))
        return gens

    # --- training -----------------------------------------------------------------------------
    def train(self, train_config: Any) -> Path:
        from nfbench.harness import checkpoints as ck
        from nfbench.harness.config import to_dict
        from nfbench.harness.trainer import Stage, is_main_process, train_stage
        from nfbench.harness.lm_batches import causal_lm_loss, encode, pad_collate

        cfg = train_config
        examples = self.load_examples(cfg)
        bb = self.backbone
        encoded = [encode(bb.tokenizer, self._prompt_ids(self.prompt_text(e.prompt)), self.target_text(e))
                   for e in examples]
        ckpt = ck.checkpoint_dir(self.name, cfg.name, cfg.out)
        data = {"source": cfg.data, "n": len(examples), "sha256": ck.data_sha256(e.to_dict() for e in examples)}
        info = dict(method=self.name, backbone=cfg.backbone, train_config=to_dict(cfg), data=data)
        if is_main_process():
            ck.write_info(ckpt, complete=False, **info)
        stage = Stage(name=f"{self.name}-sft", out_dir=ckpt / "sft", model=bb.model.train(), dataset=encoded,
                      collate=pad_collate(bb.tokenizer.pad_token_id), loss_fn=causal_lm_loss,
                      config=cfg.trainer, validate=self.validator(cfg), seed=cfg.seed)
        start = time.time()
        result = train_stage(stage)
        bb.model = stage.model.eval()
        if not is_main_process():  # under DDP every rank holds the same weights; one writes them
            return ckpt
        bb.save(ckpt, backbone=cfg.backbone)
        ck.write_info(ckpt, complete=True, steps=result.steps, final_metrics=result.last_metrics,
                      train_seconds=round(time.time() - start, 1), **info)
        return ckpt

    def load_examples(self, cfg: Any) -> list[SFTExample]:
        from nfbench.harness.sft_data import read_jsonl, task_examples

        if cfg.data.endswith((".jsonl", ".jsonl.gz")):
            return read_jsonl(cfg.data)
        if self.task is None:
            raise UserError(f"training data '{cfg.data}' is neither a task nor a .jsonl file", "see `nfbench ls tasks`")
        return task_examples(self.task, "train")

    def validator(self, cfg: Any) -> Any:
        """pass@1 (greedy) through the sandbox on the first `eval_problems` validation problems."""
        if self.task is None or "validation" not in self.task.splits() or cfg.trainer.eval_problems <= 0:
            return None
        problems = self.task.problems("validation")[: cfg.trainer.eval_problems]

        def validate(model: Any) -> dict[str, float]:
            from nfbench.harness.trainer import sandbox_pass_at_1

            gens = [g for job in self.sample_batches(problems, 1, 16)
                    for g in self._generate_batch(job, 0, self.config.val_max_new_tokens)]
            return sandbox_pass_at_1(problems, gens, cfg.sandbox)

        return validate


def _greedy() -> Any:
    from nfbench.harness.generation import Sampling

    return Sampling()
