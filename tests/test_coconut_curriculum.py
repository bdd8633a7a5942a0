"""Coconut's curriculum: per-epoch stage, latents and removed steps against hand-written tables."""
from __future__ import annotations

import random

from nfbench.methods.coconut.curriculum import (IGNORE, build_example, collate, layout, stage_at_epoch,
                                                stage_runs)

IDS = {"bot": 90, "eot": 91, "latent": 92}


def test_schedule_per_epoch_gsm8k_like():
    # c=2, 3 epochs/stage, max 3 stages, 4-step sample, padded latents (the reference's GSM8k setting)
    expected = [  # epoch: (stage, steps removed, latents)
        (0, 0, 0), (0, 0, 0), (0, 0, 0),
        (1, 1, 2), (1, 1, 2), (1, 1, 2),
        (2, 2, 4), (2, 2, 4), (2, 2, 4),
        (3, 3, 6), (3, 3, 6), (3, 3, 6),
        (4, 4, 6), (4, 4, 6), (4, 4, 6),
        (5, 4, 6),
    ]
    for epoch, (stage, removed, latents) in enumerate(expected):
        assert stage_at_epoch(epoch, 3) == stage, epoch
        assert layout(4, stage, 3, 2, True) == (removed, latents), epoch


def test_schedule_short_sample_unpadded():
    # 2-step sample, c=1, max 3 stages, no padding: latents follow the steps actually removed
    table = {0: (0, 0), 1: (1, 1), 2: (2, 2), 3: (2, 2), 4: (2, 2)}
    for stage, want in table.items():
        assert layout(2, stage, 3, 1, False) == want
    # padded: the count depends on the stage only, so inference can use a fixed k
    assert [layout(2, s, 3, 1, True) for s in range(5)] == [(0, 0), (1, 1), (2, 2), (2, 3), (2, 3)]


def test_stage_runs_reset_points():
    # 10 epochs, 2 per stage; starting at epoch 2 (stage 0 skipped when initialised from CoT-SFT)
    assert stage_runs(10, 2) == [(0, 2), (1, 2), (2, 2), (3, 2), (4, 2)]
    assert stage_runs(10, 2, start_epoch=2) == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert stage_runs(7, 3, start_epoch=1) == [(0, 2), (1, 3), (2, 1)]


def test_example_tokens_and_loss_mask():
    q, steps, ans = [1, 2, 3], [[10, 11], [20, 21], [30]], [40, 41, 0]
    ex = build_example(q, steps, ans, 2, IDS, max_latent_stage=3, c_thought=1, pad_latent_to_max=True)
    assert ex.input_ids == [1, 2, 3, 90, 92, 92, 91, 30, 40, 41, 0]
    assert ex.labels == [IGNORE] * 7 + [30, 40, 41, 0]
    assert (ex.latent_start, ex.n_latents) == (4, 2)
    last = build_example(q, steps, ans, 5, IDS, max_latent_stage=3, c_thought=1, pad_latent_to_max=True)
    assert last.input_ids == [1, 2, 3, 90, 92, 92, 92, 91, 40, 41, 0]


def test_uniform_stage_mixing():
    q, steps, ans = [1], [[10], [20], [30]], [0]
    rng = random.Random(0)
    seen = {build_example(q, steps, ans, 1, IDS, max_latent_stage=3, c_thought=1, pad_latent_to_max=True,
                          rng=rng, uniform_prob=1.0).n_latents for _ in range(200)}
    assert seen == {0, 1, 2, 3}
    never = {build_example(q, steps, ans, 1, IDS, max_latent_stage=3, c_thought=1, pad_latent_to_max=True,
                           rng=rng, uniform_prob=0.0).n_latents for _ in range(50)}
    assert never == {1}


def test_collate_aligns_first_latent():
    a = build_example([1, 2, 3, 4], [[10]], [0], 1, IDS, max_latent_stage=1, c_thought=1, pad_latent_to_max=True)
    b = build_example([1], [[10], [11]], [0], 1, IDS, max_latent_stage=1, c_thought=1, pad_latent_to_max=True)
    batch = collate([a, b], pad_id=7)
    assert batch.input_ids == [[1, 2, 3, 4, 90, 92, 91, 0, 7], [7, 7, 7, 1, 90, 92, 91, 11, 0]]
    assert batch.attention_mask == [[1] * 8 + [0], [0, 0, 0] + [1] * 6]
    assert batch.labels == [[IGNORE] * 7 + [0, IGNORE], [IGNORE] * 7 + [11, 0]]
