"""Latent-SFT's two attention masks (stage 1), as boolean [B, 1, T, T] tensors (True = may attend).

Positions carry a *role* and a *segment index*:
  PREFIX  prompt and `<think>`                       causal among themselves
  LATENT  L_j (segment j)                            prefix + L_1..L_j
  SPACER  chunk S_{j+1} that follows L_j (segment j) L_j + earlier tokens of its own chunk
  ANSWER  `</think>` and the answer                  prefix + all latents + earlier answer tokens
  PAD     right padding                              itself only (keeps every softmax row finite)

HF Llama (transformers 5.x) passes a 4-D mask through unchanged (`masking_utils` returns it as-is) and
adds it to the attention scores in the eager path, so models get `additive()` of these masks: a float
mask (0 / dtype-min) that eager and sdpa both honour.
"""
from __future__ import annotations

import torch

PAD, PREFIX, LATENT, SPACER, ANSWER = -1, 0, 1, 2, 3


def induction_mask(ids: torch.Tensor, compress_id: int, lengths: torch.Tensor) -> torch.Tensor:
    """Encoder mask: causal, except that no position attends to an *earlier* compress token.

    ids: [B, T] right-padded token ids; lengths: [B] valid lengths. Each compress token still sees
    itself and the text before it, so all latents come out of one forward pass.
    """
    B, T = ids.shape
    pos = torch.arange(T, device=ids.device)
    causal = pos[None, :] <= pos[:, None]  # [q, k]
    earlier = pos[None, :] < pos[:, None]
    is_compress = (ids == compress_id)[:, None, :]  # [B, 1(q), k]
    valid = pos[None, :] < lengths[:, None]  # [B, T]
    keep = causal[None] & ~(is_compress & earlier[None]) & valid[:, None, :] & valid[:, :, None]
    return _pad_rows_see_themselves(keep, valid)[:, None]


def supervision_mask(role: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """Decoder mask from per-position roles and segment indices ([B, T] each, see module doc)."""
    T = role.shape[1]
    pos = torch.arange(T, device=role.device)
    not_after = (pos[None, :] <= pos[:, None])[None]  # k <= q, [1, q, k]
    rq, rk = role[:, :, None], role[:, None, :]
    sq, sk = seg[:, :, None], seg[:, None, :]
    k_prefix, k_latent = rk == PREFIX, rk == LATENT
    keep = (
        ((rq == PREFIX) & k_prefix & not_after)
        | ((rq == LATENT) & (k_prefix | (k_latent & (sk <= sq))))
        | ((rq == SPACER) & ((k_latent & (sk == sq)) | ((rk == SPACER) & (sk == sq) & not_after)))
        | ((rq == ANSWER) & (k_prefix | k_latent | ((rk == ANSWER) & not_after)))
    )
    return _pad_rows_see_themselves(keep, role != PAD)[:, None]


def _pad_rows_see_themselves(keep: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(keep.shape[-1], dtype=torch.bool, device=keep.device)[None]
    return keep | (eye & ~valid[:, :, None])


def additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean keep-mask -> float mask added to attention scores (0 kept, dtype-min masked)."""
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill(~mask, torch.finfo(dtype).min)
