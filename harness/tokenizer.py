"""Character-level tokenizer for models trained from scratch on the synthetic suite.

One token per printable ASCII character (plus newline and tab), built with the `tokenizers` library
and wrapped as a `PreTrainedTokenizerFast`, so it saves/loads like any HF tokenizer and latent
methods can add special tokens (`<bot>`, `<eot>`, ...) with `tokenizer.add_special_tokens`.
"""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}
CHARS = ["\n", "\t"] + [chr(i) for i in range(32, 127)]


def char_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS.values(), *CHARS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    # every character is its own pre-token; special tokens are matched before this split
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)
    tok.padding_side = "left"  # decoder-only generation pads on the left
    return tok
