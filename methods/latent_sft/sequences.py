"""Token layouts of Latent-SFT's training sequences, at the id level (tokenizer-agnostic).

Stage 1 encoder:  prompt <think> S1 C1 S2 C2 ... Sn Cn </think>        (C_j = compress token after chunk j)
Stage 1 decoder:  prompt <think> L1 S2 L2 ... Sn Ln </think> answer      (L_j = latent of C_j)
Stage 2:          prompt <think> L1 ... Ln </think> answer                (L_j = teacher soft embeddings)
Chunks S_j hold k CoT tokens (k = compression rate; the last one may be shorter).

Stage-1 decoder position ids are "dual-track" (as the reference's): the latents take consecutive
positions after the prefix, where they sit in stage 2 and at inference, and each spacer chunk counts on
from its latent's position; `</think>` and the answer follow the last latent. With plain positions the
j-th latent would sit after j-1 spacer chunks, at a position the decoder never meets again:

    prompt(0..3) <think>(4) L1(5) S2(6,7) L2(6) S3(7,8) L3(7) </think>(8) answer(9..)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nfbench.harness.batching import IGNORE, pad
from nfbench.methods.latent_sft.masks import ANSWER, LATENT, PAD, PREFIX, SPACER


@dataclass(frozen=True)
class SpecialIds:
    think: int  # <think>
    end_think: int  # </think>
    compress: int  # the encoder's compress token
    pad: int


@dataclass
class Example:
    prompt: list[int]
    cot: list[int]
    answer: list[int]  # ends with EOS


def chunks(cot: list[int], k: int) -> list[list[int]]:
    return [cot[i:i + k] for i in range(0, len(cot), k)]


def encoder_ids(ex: Example, sp: SpecialIds, k: int) -> list[int]:
    ids = ex.prompt + [sp.think]
    for chunk in chunks(ex.cot, k):
        ids += chunk + [sp.compress]
    return ids + [sp.end_think]


@dataclass
class DecoderRow:
    ids: list[int]  # latent slots hold `pad` (their embeddings are replaced)
    role: list[int]
    seg: list[int]
    labels: list[int]
    pos: list[int]  # position ids (dual-track in stage 1, see the module doc)


def decoder_row(ex: Example, sp: SpecialIds, k: int) -> DecoderRow:
    """Stage-1 decoder sequence with roles/segments for `masks.supervision_mask` and CE labels
    on the spacers (S_2..S_n), `</think>` and the answer."""
    row = _prefix(ex, sp)
    n_prefix, parts = len(row.ids), chunks(ex.cot, k)
    for j in range(len(parts)):
        latent_pos = n_prefix + j  # after the prefix and the j earlier latents, whatever spacers lie between
        _append(row, [sp.pad], LATENT, j, [IGNORE], start=latent_pos)
        if j + 1 < len(parts):
            _append(row, parts[j + 1], SPACER, j, parts[j + 1], start=latent_pos + 1)
    tail = [sp.end_think] + ex.answer
    _append(row, tail, ANSWER, 0, tail, start=n_prefix + len(parts))
    return row


def stage2_row(ex: Example, sp: SpecialIds, n_latents: int) -> DecoderRow:
    """Stage-2 sequence: n latent slots (causal mask, role only marks the slots)."""
    row = _prefix(ex, sp)
    _append(row, [sp.pad] * n_latents, LATENT, 0, [IGNORE] * n_latents)
    tail = [sp.end_think] + ex.answer
    _append(row, tail, ANSWER, 0, tail)
    return row


def _prefix(ex: Example, sp: SpecialIds) -> DecoderRow:
    n = len(ex.prompt) + 1
    return DecoderRow(ex.prompt + [sp.think], [PREFIX] * n, [0] * n, [IGNORE] * n, list(range(n)))


def _append(row: DecoderRow, ids: list[int], role: int, seg: int, labels: list[int], start: int | None = None) -> None:
    """ids at positions start, start+1, ... (None: right after the row's last token)."""
    first = len(row.ids) if start is None else start
    row.ids += ids
    row.role += [role] * len(ids)
    row.seg += [seg] * len(ids)
    row.labels += labels
    row.pos += range(first, first + len(ids))


def pad_rows(rows: list[DecoderRow], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad decoder rows into tensors: ids, role, seg, labels, pos, lengths."""
    out = {"ids": pad([r.ids for r in rows], pad_id)[0], "role": pad([r.role for r in rows], PAD)[0],
           "seg": pad([r.seg for r in rows], 0)[0], "labels": pad([r.labels for r in rows], IGNORE)[0],
           "pos": pad([r.pos for r in rows], 0)[0]}
    out["lengths"] = torch.tensor([len(r.ids) for r in rows])
    return out


def pad_ids(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and each row's length."""
    ids, mask = pad(seqs, pad_id)
    return ids, mask.sum(1)


def stage1_batch(examples: list[Example], sp: SpecialIds, k: int) -> dict[str, torch.Tensor]:
    batch = pad_rows([decoder_row(ex, sp, k) for ex in examples], sp.pad)
    batch["enc_ids"], batch["enc_lengths"] = pad_ids([encoder_ids(ex, sp, k) for ex in examples], sp.pad)
    return batch


def stage2_batch(examples: list[Example], n_latents: list[int], sp: SpecialIds) -> dict[str, torch.Tensor]:
    return pad_rows([stage2_row(ex, sp, n) for ex, n in zip(examples, n_latents)], sp.pad)
