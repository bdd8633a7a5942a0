"""HumanEval+ v0.1.10: HumanEval with evalplus's extra tests (base and plus verdicts)."""
from __future__ import annotations

from nfbench.harness.registry import register_task
from nfbench.tasks.evalplus_rows import EvalplusTask


@register_task("humaneval+")
class HumanEvalPlusTask(EvalplusTask):
    """HumanEval+ (evalplus v0.1.10): the 164 HumanEval problems with 80x more tests."""

    source = "evalplus/humanevalplus_release v0.1.10 (Liu et al. 2023), built on OpenAI HumanEval"
    licence = "Apache-2.0 (+ MIT terms of HumanEval)"
    data_key = "humaneval+"
    dataset = "humaneval"
