"""Per-sample reasoning cost, accounted identically for every method.

A `CostMeter` follows one batch of samples through generation. The decode helpers
(harness/generation.py) report every forward call to it; methods only say which phase each sample
is in (`set_phase`) and how many positions it produced (`count`). Latent methods that feed
embeddings instead of tokens go through the same `step()` and so are metered the same way.

FLOPs are matmul FLOPs (2 per multiply-add) from the model config: the projections and MLP per
new position, attention as every new query against every key in its window (past + new, what a
dense kernel computes), and the LM head for each position whose logits are computed. Padding is
not counted, so a sample's cost does not depend on what it was batched with. Elementwise work
(norms, rotary, softmax, activations) is left out, as `torch.utils.flop_counter` leaves it out.
"""
from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from typing import Any, Iterator, Literal

import torch

from nfbench.harness.types import Cost

Phase = Literal["reasoning", "answer"]


def _dims(config: Any) -> tuple[int, int, int, int, int, int, int]:
    d = config.hidden_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    ff = getattr(config, "intermediate_size", None) or 4 * d
    return d, heads, head_dim, kv_heads, ff, config.num_hidden_layers, config.vocab_size


def forward_flops(config: Any, new_tokens: int, context: int, logits_positions: int = 1) -> float:
    """FLOPs of one forward pass over `new_tokens` positions whose keys end at `context` (past + new)."""
    d, heads, head_dim, kv_heads, ff, layers, vocab = _dims(config)
    gated = getattr(config, "model_type", "llama") not in {"gpt2", "gpt_neox", "opt", "bloom", "falcon"}
    proj = d * heads * head_dim * 2 + d * kv_heads * head_dim * 2  # q, o + k, v
    mlp = (3 if gated else 2) * d * ff
    per_token = 2 * (proj + mlp) * layers
    attention = 4 * heads * head_dim * layers * new_tokens * context  # QK^T and AV
    return float(per_token * new_tokens + attention + 2 * d * vocab * logits_positions)


def kv_bytes_per_position(config: Any, dtype: torch.dtype) -> int:
    _, _, head_dim, kv_heads, _, layers, _ = _dims(config)
    return 2 * layers * kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: "5" resets the process's peak RSS (VmHWM) so the peak is this batch's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class CostMeter:
    """Accumulates a `Cost` per sample of one batch.

    phase: the phase every sample starts in ("reasoning" for methods that reason, "answer" for
    `direct`); the prompt forward pass is charged to it. Wall time of each forward call is split
    evenly among the samples active in it, so per-sample seconds add up to the batch's wall time.
    """

    def __init__(self, model_config: Any, batch_size: int, device: torch.device, dtype: torch.dtype,
                 phase: Phase = "reasoning"):
        self.config = model_config
        self.device = device
        self.kv_per_position = kv_bytes_per_position(model_config, dtype)
        self.costs = [Cost() for _ in range(batch_size)]
        self.context = [0] * batch_size  # real (unpadded) positions in each sample's KV cache
        self.phase: list[Phase] = [phase] * batch_size
        self.active = [True] * batch_size
        self._kv_recorded = [False] * batch_size
        _reset_peak_memory(device)

    # --- what methods call -----------------------------------------------------------------
    def set_phase(self, i: int, phase: Phase, move_last: int = 0) -> None:
        """Switch sample i's phase; `move_last` already-counted positions belong to the new phase
        (e.g. the token that revealed the switch, counted before it could be recognised)."""
        if self.phase[i] == "reasoning" and phase == "answer":
            self._record_kv(i)
            self.costs[i].reasoning_positions -= move_last
            self.costs[i].answer_tokens += move_last
        self.phase[i] = phase

    def count(self, i: int, n: int = 1) -> None:
        """Sample i produced n positions (tokens or latent steps) in its current phase."""
        if self.phase[i] == "reasoning":
            self.costs[i].reasoning_positions += n
        else:
            self.costs[i].answer_tokens += n

    def finish(self, i: int) -> None:
        """Sample i stops; later forward calls are not charged to it."""
        if self.active[i]:
            self._record_kv(i)
            self.active[i] = False

    def resume(self, i: int) -> None:
        """Sample i continues after a decode loop finished it (e.g. a budgeted reasoning phase that
        ends in a forced answer): later forward calls are charged to it again."""
        self.active[i] = True

    # --- what the decode helpers call ------------------------------------------------------
    @contextmanager
    def forward(self, new_tokens: list[int], logits_positions: int = 1, prompt: bool = False) -> Iterator[None]:
        """Wrap one model call; new_tokens[i] = real positions fed for sample i (0 = not fed)."""
        start = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        charged = [i for i, n in enumerate(new_tokens) if n > 0 and self.active[i]]
        for i in charged:
            n = new_tokens[i]
            self.context[i] += n
            c = self.costs[i]
            c.forward_passes += 1
            c.flops += forward_flops(self.config, n, self.context[i], logits_positions)
            share = seconds / len(charged)
            if self.phase[i] == "reasoning":
                c.reasoning_seconds += share
            else:
                c.answer_seconds += share
            if prompt:
                c.prompt_tokens += n
                if self.phase[i] == "answer":  # no reasoning: the cache at its end is the prompt's
                    self._record_kv(i)

    def results(self) -> list[Cost]:
        peak = peak_memory_bytes(self.device)
        for i, c in enumerate(self.costs):
            self._record_kv(i)
            c.peak_memory_bytes = peak
        return self.costs

    def _record_kv(self, i: int) -> None:
        if not self._kv_recorded[i]:
            self.costs[i].kv_cache_bytes = self.context[i] * self.kv_per_position
            self._kv_recorded[i] = True
