"""cot: explicit chain of thought in text, then the answer (zero-shot on an instruct model, or SFT)."""
from __future__ import annotations

from nfbench.harness.registry import register_method
from nfbench.methods.text_sft import TextMethod


@register_method("cot")
class CotMethod(TextMethod):
    """Explicit chain of thought: reason in text tokens, then write the program."""

    reasons = True
