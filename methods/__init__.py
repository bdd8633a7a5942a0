"""Reasoning methods: one module (or package) per method, each registering itself with @register_method.

What they share lives beside them: base.py (Method, Generator, Decoding, RunContext), prompt_format.py
(prompts, SFT targets, the answer marker and answer -> program), text_stream.py (one KV cache per
batch, the answer decoded after the method's reasoning positions) and sft.py (the SFT stage).
"""
