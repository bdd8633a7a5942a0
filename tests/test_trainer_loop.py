"""Shared trainer: schedule, a real (tiny) training run, resume mid-epoch."""
from __future__ import annotations

import pytest
import torch

from nfbench.harness.config import TrainerConfig
from nfbench.harness.trainer import lr_multiplier, read_metrics, train_stage

from trainer_toy import toy_stage


def test_cosine_with_warmup_shape():
    lrs = [lr_multiplier(s, 4, 20) for s in range(20)]
    assert lrs[0] == pytest.approx(0.25) and lrs[3] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))  # monotone decay after warmup
    assert lrs[-1] < 0.05


def test_constant_schedule_keeps_lr_after_warmup():
    lrs = [lr_multiplier(s, 4, 20, "constant") for s in range(20)]
    assert lrs[0] == pytest.approx(0.25) and lrs[3:] == [1.0] * 17


def _cfg(**kw) -> TrainerConfig:
    base = dict(lr=3e-3, batch_size=4, grad_accum=2, epochs=1, warmup_steps=2, log_every=1, save_every=3)
    return TrainerConfig(**{**base, **kw})


def test_training_lowers_loss_and_logs_csv(tmp_path):
    stage = toy_stage(tmp_path / "a", _cfg())
    result = train_stage(stage)
    rows = read_metrics(tmp_path / "a")
    assert result.steps == 8 == len(rows)  # 64 examples / (4 x 2) per step
    assert rows[-1]["loss"] < rows[0]["loss"] - 0.3
    assert {"lr", "epoch", "tokens"} <= set(rows[0])


def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path):
    full = toy_stage(tmp_path / "full", _cfg())
    train_stage(full)
    # interrupted on micro-batch 11: the last save was after optimizer step 3 (micro-batch 6), mid-epoch 0
    crashed = toy_stage(tmp_path / "resumed", _cfg(), crash_at_batch=11)
    with pytest.raises(KeyboardInterrupt):
        train_stage(crashed)
    resumed = toy_stage(tmp_path / "resumed", _cfg())
    train_stage(resumed)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name  # bitwise: the resumed run computes exactly what the uninterrupted one did
    a_rows, b_rows = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "resumed")
    assert [r["step"] for r in b_rows] == [r["step"] for r in a_rows]
    assert [r["loss"] for r in b_rows] == pytest.approx([r["loss"] for r in a_rows], rel=1e-4)
