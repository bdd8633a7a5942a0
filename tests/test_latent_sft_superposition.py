"""Top-k vocabulary superposition and the stage-2 KL."""
import torch

from nfbench.methods.latent_sft.superposition import sparse_kl, superpose, topk_distribution


def test_topk_superposition_equals_explicit_weighted_sum():
    torch.manual_seed(0)
    W = torch.randn(50, 8)
    h = torch.randn(3, 8)
    emb, probs, ids = superpose(h, W, top_k=10)
    for r in range(3):
        logits = W @ h[r]
        top = sorted(range(50), key=lambda v: -float(logits[v]))[:10]
        z = torch.stack([logits[v] for v in top])
        w = torch.exp(z - z.max()) / torch.exp(z - z.max()).sum()
        explicit = sum(w[i] * W[v] for i, v in enumerate(top))
        assert set(ids[r].tolist()) == set(top)
        assert torch.allclose(emb[r], explicit, atol=1e-5)
    assert torch.allclose(probs.sum(-1), torch.ones(3))


def test_full_vocab_when_top_k_is_zero():
    W = torch.randn(20, 4)
    h = torch.randn(2, 4)
    emb, probs, _ = superpose(h, W, top_k=0)
    assert torch.allclose(emb, torch.softmax(h @ W.T, -1) @ W, atol=1e-5)


def test_superposition_gradient_reaches_h_not_vocabulary():
    W = torch.randn(30, 6, requires_grad=True)
    h = torch.randn(2, 6, requires_grad=True)
    emb, _, _ = superpose(h, W, top_k=5)
    emb.sum().backward()
    assert h.grad is not None and h.grad.abs().sum() > 0
    assert W.grad is None


def test_sparse_kl_matches_dense_kl():
    torch.manual_seed(1)
    teacher = torch.randn(4, 40)
    student = torch.randn(4, 40)
    probs, ids = topk_distribution(teacher, 10)
    q = torch.zeros(4, 40).scatter(-1, ids, probs)
    dense = (q * (q.clamp_min(1e-12).log() - torch.log_softmax(student, -1))).sum(-1).mean()
    assert torch.allclose(sparse_kl(student, probs, ids), dense, atol=1e-5)
    assert sparse_kl(teacher.masked_fill(q == 0, -1e9), probs, ids) < 1e-5  # student == teacher -> 0
