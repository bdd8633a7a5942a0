"""The pause method's training forward (the shared SFT collate and loss on `prompt <pause>*n answer`)
equals a naive per-example one: no padding, the CE on the answer tokens only (the paper's pause
fine-tuning ignores the pauses' outputs), summed over the batch and divided by its answer tokens."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from equivalence import assert_same_loss_and_grads

from nfbench.harness import pipeline
from nfbench.harness.backbone import load_backbone
from nfbench.harness.batching import causal_lm_loss, pad_collate
from nfbench.harness.sft_data import task_examples
from nfbench.methods.pause import encode_example, pause_id
from nfbench.methods.prompt_format import PromptFormat

N_PAUSES = 3


def test_pause_loss_and_gradients_equal_the_naive_forward():
    bb = load_backbone("tiny-llama", device="cpu")
    bb.model.double()
    pause = pause_id(bb)
    pairs = []  # (format, example): chains of 2 and 3 steps, so that rows differ in length
    for steps, n in ((2, 2), (3, 1)):
        task = pipeline.open_task("synth", None, {"steps": steps, "n_train": 8, "n_val": 2, "n_test": 2})
        fmt = PromptFormat(task, bb.tokenizer, reasons=False)
        pairs += [(fmt, ex) for ex in task_examples(task, "train")[:n]]
    rows = [encode_example(fmt, ex, N_PAUSES) for fmt, ex in pairs]
    assert len({len(r["input_ids"]) for r in rows}) > 1, "rows of different lengths exercise the padding"
    model = bb.model.train()
    loss, _ = causal_lm_loss(model, pad_collate(bb.tokenizer.pad_token_id)(rows))

    total, count = torch.zeros((), dtype=torch.float64), 0
    for fmt, ex in pairs:
        prompt = fmt.example_prompt_ids(ex)
        answer = bb.tokenizer(fmt.answer_target(ex), add_special_tokens=False)["input_ids"] + [bb.tokenizer.eos_token_id]
        ids = torch.tensor([prompt + [pause] * N_PAUSES + answer])
        logits = model(input_ids=ids).logits[0]
        start = len(prompt) + N_PAUSES  # the last pause predicts the first answer token
        total = total + F.cross_entropy(logits[start - 1:-1].double(), torch.tensor(answer), reduction="sum")
        count += len(answer)
    assert_same_loss_and_grads(model, loss, total / count)
