"""direct: the answer only, no reasoning (zero-shot on an instruct model, or SFT without the CoT)."""
from __future__ import annotations

from nfbench.harness.registry import register_method
from nfbench.methods.text_sft import TextMethod


@register_method("direct")
class DirectMethod(TextMethod):
    """No reasoning: write the program straight after the prompt."""

    reasons = False
