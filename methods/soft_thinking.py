"""soft-thinking: training-free reasoning in concept tokens (Zhang et al., arXiv 2505.15778).

Runs on a CoT model (the tiny `cot` checkpoint, or zero-shot on an instruct backbone) with the CoT
prompt; each reasoning step feeds the probability-weighted mixture of token embeddings
(methods/soft_thinking_core.py) instead of a sampled token, until the end-of-thinking token is the
most likely one, the entropy stays low ("Cold Stop"), or `max_thinking_steps`; then the
end-of-thinking token is fed as a real token and the answer is decoded from the same KV cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation, Problem
from nfbench.methods.text_sft import FENCE, TextMethod


@dataclass
class SoftThinkingConfig:
    # defaults of the authors' run scripts (max_topk 10, temperature 0.6, top-p 0.95, min-p 0.001,
    # early_stopping_entropy_threshold 0.01, early_stopping_length_threshold 256)
    top_k: int = 10  # tokens mixed into one concept token
    temperature: float = 0.6  # of the concept distribution
    top_p: float = 0.95
    min_p: float = 0.001
    entropy_threshold: float = 0.01  # Cold Stop: entropy below this ...
    patience: int = 256  # ... for this many consecutive steps ends the thinking
    max_thinking_steps: int | None = None  # None = run_config.max_new_tokens
    end_token: str | None = None  # None: "\n" (compact CoT format) or "```" (chat: the code fence)
    zero_shot: bool = False  # use the untrained backbone even if a cot checkpoint exists
    answer_marker: str | None = None  # (shared text-format option; the end token plays this role)
    val_max_new_tokens: int = 192


@register_method("soft-thinking")
class SoftThinkingMethod(TextMethod):
    """Soft Thinking (training-free): probability-weighted concept tokens instead of sampled ones."""

    config_class = SoftThinkingConfig
    trainable = False
    reasons = True

    def weights_spec(self) -> str:
        """A CoT model: the checkpoint given, else the latest `cot` checkpoint, else the backbone
        itself where it can reason zero-shot (an instruct model)."""
        from nfbench.harness.checkpoints import latest_checkpoint, require_checkpoint

        cfg = self.run_config
        if cfg.checkpoint:
            self.checkpoint = require_checkpoint("cot", cfg.backbone, cfg.checkpoint)
        elif not self.config.zero_shot:
            self.checkpoint = latest_checkpoint("cot", cfg.backbone)
            if self.checkpoint is None and not self.zero_shot_ok(cfg.backbone):
                self.checkpoint = require_checkpoint("cot", cfg.backbone)  # raises, naming `nfbench train cot`
        return str(self.checkpoint) if self.checkpoint else cfg.backbone

    def end_id(self) -> int:
        tok = self.backbone.tokenizer
        text = self.config.end_token or ("\n" if self.compact else FENCE)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise UserError(f"the end-of-thinking text {text!r} is {len(ids)} tokens for this tokenizer",
                            "set method_config.end_token to a string that is one token")
        return ids[0]

    def _generate_batch(self, jobs: list[tuple[Problem, int]], seed: int, max_new_tokens: int) -> list[Generation]:
        import torch

        from nfbench.harness.generation import DecodeState, Sampling, decode, left_pad, make_generator, step
        from nfbench.methods.soft_thinking_core import soft_think

        bb, tok, c = self.backbone, self.backbone.tokenizer, self.config
        end = self.end_id()
        prompts = [self.prompt_text(self.problem_prompt(p)) for p, _ in jobs]
        ids, mask = left_pad([self._prompt_ids(p) for p in prompts], tok.pad_token_id, bb.device)
        meter = self.meter(len(jobs), phase="reasoning")
        state = DecodeState.empty(bb.model, len(jobs))
        logits = step(bb.model, state, input_ids=ids, new_mask=mask, meter=meter, prompt=True).logits
        thought = soft_think(bb.model, state, logits, end_id=end, max_steps=c.max_thinking_steps or max_new_tokens,
                             temperature=c.temperature, top_k=c.top_k, top_p=c.top_p, min_p=c.min_p,
                             entropy_threshold=c.entropy_threshold, patience=c.patience, meter=meter)
        # the end-of-thinking token is fed as a real token; it closes the reasoning phase
        out = step(bb.model, state, input_ids=torch.full((len(jobs), 1), end, device=bb.device), meter=meter)
        for i in range(len(jobs)):
            meter.set_phase(i, "answer")
        stop = {tok.eos_token_id} | ({tok.pad_token_id} if self.compact else set())
        texts = [""] * len(jobs)

        def closes_block(i: int, t: int) -> bool:  # chat: the answer ends with its closing fence
            texts[i] += tok.decode([t])
            return not self.compact and FENCE in texts[i]

        answers = decode(bb.model, state, out.logits, max_new_tokens=max_new_tokens, stop_ids=stop,
                         generator=make_generator(bb.device, seed), meter=meter, on_token=closes_block,
                         sampling=Sampling() if self.training else self.sampling())
        costs = meter.results()
        end_text = tok.decode([end])
        gens = []
        for i, ((problem, idx), prompt, answer_ids, cost) in enumerate(zip(jobs, prompts, answers, costs)):
            answer = (FENCE if not self.compact else "") + tok.decode(answer_ids, skip_special_tokens=True)
            summary = tok.decode(thought.top_tokens[i], skip_special_tokens=True)
            gens.append(Generation(
                task_id=problem.task_id, sample_idx=idx, prompt=prompt,
                raw_output=summary + end_text + tok.decode(answer_ids, skip_special_tokens=True),
                solution=self.solution(problem, answer), reasoning=summary, cost=cost,
                extra={"concept_tokens": int(thought.steps[i]), "stopped_by": thought.stopped_by[i],
                       "mean_entropy": round(thought.mean_entropy[i], 4),
                       "mean_support": round(thought.support[i], 2),
                       "format": "compact" if self.compact else "chat"}))
        return gens

