"""Regression: `</think>` must be reachable. add_special_tokens gives new tokens copies of eos's rows; with
a LoRA student and a frozen LM head, `</think>` tied eos exactly, argmax picked eos, thinking never ended
and every synth answer came out garbled after max_latents junk latents."""
import torch

from nfbench.methods.latent_sft.masks import LATENT
from nfbench.methods.latent_sft.sequences import stage2_batch
from nfbench.methods.latent_sft.stage1 import trainable_params, with_lora
from nfbench.methods.latent_sft.stage2 import stage2_loss
from nfbench.methods.latent_sft.superposition import mix
from test_latent_sft_stages import EOS, EXAMPLES, SP, run_think, tiny_llama


def eos_copies(model, head_scale: float = 1.0):
    """Like harness.backbone.add_special_tokens: the special tokens' input and output rows = eos's.
    head_scale widens the random head's logit range (a frozen 0.02-init head caps logits near +-1)."""
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
        for emb in (model.get_input_embeddings(), model.get_output_embeddings()):
            emb.weight[[SP.think, SP.end_think, SP.compress]] = emb.weight[EOS].clone()
    return model


def test_end_think_tied_with_eos_still_stops():
    """Inference on such a checkpoint: a `</think>` tying the max counts as the argmax."""
    model = eos_copies(tiny_llama()).eval()
    boost = torch.zeros(100)
    boost[[EOS, SP.end_think]] = 100.0  # eos and </think> tie at the top after <think>
    model.lm_head.register_forward_hook(lambda m, i, out: out + boost)
    chains, _ = run_think(model, [[10, 11]])
    assert chains[0].probs == []


def test_stage2_student_learns_end_think_and_generation_matches_teacher_forcing():
    torch.set_num_threads(1)
    ex, n = EXAMPLES[0], 3
    teacher = (torch.softmax(torch.randn(n, 5), -1), torch.randint(40, 80, (n, 5)))
    student = with_lora(eos_copies(tiny_llama(), 20.0), 8, 16, 0.0, embeddings=False, head_tokens=[SP.end_think])
    for p in student.parameters():
        p.requires_grad_(False)
    params = trainable_params(student)
    assert any(p is q for n, q in student.named_parameters() if "trainable_tokens_" in n for p in params)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=1e-2)
    batch = stage2_batch([ex], [n], SP)
    for _ in range(80):
        opt.zero_grad()
        stage2_loss(student, batch, [teacher], 1.0, 1.0)[0].backward()
        opt.step()
    model = student.merge_and_unload().eval()
    head = model.get_output_embeddings().weight
    assert not torch.equal(head[SP.end_think], head[EOS])  # the row was trained (merged into the head)

    # teacher forcing on the training sequence: `</think>` right after the latents, then the answer
    W = model.get_input_embeddings().weight
    emb = W[batch["ids"][0]].masked_scatter((batch["role"][0] == LATENT)[:, None], mix(*teacher, W))
    with torch.no_grad():
        pred = model(inputs_embeds=emb[None]).logits[0].argmax(-1).tolist()
    p0 = len(ex.prompt) + n  # the last latent slot
    assert pred[p0:p0 + len(ex.answer) + 1] == [SP.end_think] + ex.answer

    # greedy generation agrees with teacher forcing on its own sequence (latents, `</think>`, answer)
    chains, answers = run_think(model, [ex.prompt])
    latents = [mix(p, i, W)[None] for p, i in zip(chains[0].probs, chains[0].ids)]
    assert 0 < len(latents) < 4  # stopped by `</think>`, not by max_latents
    seq = torch.cat([W[ex.prompt + [SP.think]], *latents, W[[SP.end_think] + answers[0]]])
    with torch.no_grad():
        pred = model(inputs_embeds=seq[None]).logits[0].argmax(-1).tolist()
    p0 = len(ex.prompt) + len(latents)
    assert pred[p0:p0 + len(answers[0]) + 1] == [SP.end_think] + answers[0]
    assert answers[0] == ex.answer[:-1]  # the trained answer from its first token (eos stops decoding)
