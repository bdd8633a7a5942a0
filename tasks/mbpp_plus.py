"""MBPP+ v0.2.0: 378 MBPP problems with evalplus's extra tests (base and plus verdicts)."""
from __future__ import annotations

from nfbench.harness.registry import register_task
from nfbench.tasks.evalplus_rows import EvalplusTask


@register_task("mbpp+")
class MbppPlusTask(EvalplusTask):
    """MBPP+ (evalplus v0.2.0): 378 sanitized MBPP problems with 35x more tests."""

    source = "evalplus/mbppplus_release v0.2.0 (Liu et al. 2023), built on Google MBPP"
    licence = "Apache-2.0 (+ CC-BY-4.0 of MBPP)"
    data_key = "mbpp+"
    dataset = "mbpp"
