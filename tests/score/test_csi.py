import math

import pytest
import torch

from dia_augment.score import csi_score, csi_weights, max_similarity, score_by_method, shift_score, simclr_score


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _random_stats(k, n, m, d, seed=0, dtype=torch.float64):
    g = _gen(seed)
    train_f = torch.randn(k, n, d, generator=g, dtype=dtype)
    train_l = torch.rand(k, n, generator=g, dtype=dtype) * 4 + 0.5  # positive mean logits
    test_f = torch.randn(k, m, d, generator=g, dtype=dtype) * 1.5
    test_l = torch.randn(k, m, generator=g, dtype=dtype) * 2
    return train_f, train_l, test_f, test_l


def _norm(v):
    return math.sqrt(sum(x * x for x in v))


def reference_csi(train_f, train_l, test_f, test_l):
    """CSI's normality score straight from the formula: a Python loop over test samples and training rows."""
    train_f, train_l, test_f, test_l = (t.tolist() for t in (train_f, train_l, test_f, test_l))
    k_shifts, m_test = len(test_f), len(test_f[0])
    scores = []
    for i in range(m_test):
        total = 0.0
        for k in range(k_shifts):
            w_sim = 1.0 / (sum(_norm(row) for row in train_f[k]) / len(train_f[k]))
            w_shi = 1.0 / (sum(train_l[k]) / len(train_l[k]))
            best = -math.inf
            for row in train_f[k]:
                dot = sum(a * b / _norm(row) for a, b in zip(test_f[k][i], row))  # raw test feature
                best = max(best, dot)
            total += w_sim * best + w_shi * test_l[k][i]
        scores.append(total / k_shifts)
    return torch.tensor(scores, dtype=torch.float64)


def test_matches_reference_loop_float64():
    stats = _random_stats(3, 17, 11, 5)
    torch.testing.assert_close(csi_score(*stats), -reference_csi(*stats), rtol=0, atol=1e-12)  # the anomaly score


def test_matches_reference_loop_float32():
    stats = _random_stats(4, 23, 9, 8, seed=1, dtype=torch.float32)
    out = csi_score(*stats)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), -reference_csi(*stats), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 3, 5, 16, 4096])
def test_chunk_size_does_not_change_the_result(chunk_size):
    stats = _random_stats(2, 37, 13, 6, seed=2)  # 37 and 13 are divided by none of the chunk sizes > 1
    expected = csi_score(*stats, chunk_size=10_000)
    torch.testing.assert_close(csi_score(*stats, chunk_size=chunk_size), expected, rtol=0, atol=1e-12)


def test_test_feature_is_not_normalised():
    # Scaling a test feature by c scales its similarity term by c (for a positive maximum).
    train_f = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)  # mean norm 1.5
    train_l = torch.tensor([[1.0, 3.0]], dtype=torch.float64)  # mean logit 2
    test_f = torch.tensor([[[0.6, 0.8]]], dtype=torch.float64)
    test_l = torch.tensor([[0.0]], dtype=torch.float64)
    one = csi_score(train_f, train_l, test_f, test_l)
    three = csi_score(train_f, train_l, 3 * test_f, test_l)
    torch.testing.assert_close(one, torch.tensor([-0.8 / 1.5], dtype=torch.float64))
    torch.testing.assert_close(three, 3 * one)
    shifted = csi_score(train_f, train_l, test_f, torch.tensor([[4.0]], dtype=torch.float64))
    torch.testing.assert_close(shifted - one, torch.tensor([-4.0 / 2.0], dtype=torch.float64))


def test_training_row_order_does_not_matter():
    train_f, train_l, test_f, test_l = _random_stats(2, 19, 7, 4, seed=3)
    perm = torch.randperm(19, generator=_gen(0))
    torch.testing.assert_close(
        csi_score(train_f[:, perm], train_l[:, perm], test_f, test_l, chunk_size=4),
        csi_score(train_f, train_l, test_f, test_l, chunk_size=4),
        rtol=0,
        atol=1e-12,
    )


def test_weights_equal_direct_computation():
    train_f, train_l, _, _ = _random_stats(3, 10, 2, 4, seed=4)
    w_sim, w_shi = csi_weights(train_f, train_l)
    for k in range(3):
        assert w_sim[k].item() == pytest.approx(1 / sum(_norm(r) for r in train_f[k].tolist()) * 10, rel=1e-12)
        assert w_shi[k].item() == pytest.approx(10 / sum(train_l[k].tolist()), rel=1e-12)


def test_simclr_and_shift_scores_match_reference():
    train_f, train_l, test_f, test_l = _random_stats(2, 12, 6, 5, seed=5)
    sim = simclr_score(train_f[0], test_f[0], chunk_size=5)
    expected = [
        max(sum(a * b for a, b in zip(q, r)) / (_norm(q) * _norm(r)) for r in train_f[0].tolist())
        for q in test_f[0].tolist()
    ]
    torch.testing.assert_close(sim, -torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    shi = shift_score(train_l, test_l)
    means = train_l.mean(dim=1).tolist()
    expected = [(test_l[0, i].item() / means[0] + test_l[1, i].item() / means[1]) / 2 for i in range(6)]
    torch.testing.assert_close(shi, -torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)


def test_max_similarity_uses_the_raw_query():
    keys = torch.tensor([[0.0, 5.0], [4.0, 0.0], [3.0, 4.0]])
    queries = torch.tensor([[2.0, 0.0], [0.0, -1.0], [3.0, 4.0]])
    out = max_similarity(queries, keys, chunk_size=2)
    torch.testing.assert_close(out, torch.tensor([2.0, 0.0, 5.0]))


def test_full_score_is_similarity_plus_shift_terms():
    train_f, train_l, test_f, test_l = _random_stats(4, 15, 8, 3, seed=6)
    w_sim, _ = csi_weights(train_f, train_l)
    sim = torch.stack([w_sim[k] * max_similarity(test_f[k], train_f[k]) for k in range(4)]).mean(0)
    torch.testing.assert_close(csi_score(train_f, train_l, test_f, test_l), -sim + shift_score(train_l, test_l))


def test_score_by_method_is_the_named_score():
    train_f, train_l, test_f, test_l = _random_stats(3, 9, 5, 4, seed=8)
    expected = {
        "csi": (-reference_csi(train_f, train_l, test_f, test_l)).tolist(),
        "simclr": simclr_score(train_f[0], test_f[0]).tolist(),
        "shift": shift_score(train_l, test_l).tolist(),
    }
    for method, scores in expected.items():
        out = score_by_method(method, train_f, train_l, test_f, test_l, chunk_size=2)
        torch.testing.assert_close(out, torch.tensor(scores, dtype=torch.float64), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"method must be one of \('csi', 'simclr', 'shift'\); got 'cosine'"):
        score_by_method("cosine", train_f, train_l, test_f, test_l)


def test_non_positive_mean_logit_raises():
    train_f, train_l, test_f, test_l = _random_stats(2, 5, 3, 4)
    train_l[1] = -train_l[1]
    with pytest.raises(ValueError, match=r"mean training shift logit must be > 0.*shift 1"):
        csi_score(train_f, train_l, test_f, test_l)
    with pytest.raises(ValueError, match="mean training shift logit"):
        shift_score(train_l, test_l)
    train_l[1] = 0.0
    with pytest.raises(ValueError, match="shift 1: 0"):
        csi_weights(train_f, train_l)


def test_bad_inputs_raise():
    train_f, train_l, test_f, test_l = _random_stats(2, 5, 3, 4)
    with pytest.raises(ValueError, match=r"train_features must have shape \(K, N, D\)"):
        csi_score(train_f[0], train_l, test_f, test_l)
    with pytest.raises(ValueError, match="train_shift_logits must have shape"):
        csi_score(train_f, train_l[:, :4], test_f, test_l)
    with pytest.raises(ValueError, match=r"test_features must have shape \(K, M, D\) with K = 2 and D = 4"):
        csi_score(train_f, train_l, test_f[..., :3], test_l[:, :3])
    with pytest.raises(ValueError, match="test_shift_logits must have shape"):
        csi_score(train_f, train_l, test_f, test_l[:, :2])
    bad = test_f.clone()
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="test_features contains NaN"):
        csi_score(train_f, train_l, bad, test_l)
    with pytest.raises(TypeError, match="train_features must be a floating-point"):
        csi_score(train_f.long(), train_l, test_f, test_l)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        csi_score(train_f.tolist(), train_l, test_f, test_l)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        csi_score(train_f, train_l, test_f, test_l, chunk_size=0)
    with pytest.raises(ValueError, match="training projections of some shift are all zero"):
        csi_weights(torch.zeros_like(train_f), train_l)
    with pytest.raises(ValueError, match="same feature size D"):
        max_similarity(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="same number of shifts K"):
        shift_score(train_l, test_l[:1])


def test_no_fallback_keeps_a_negative_shift_weight_as_the_reference():
    train_f, _, test_f, test_l = _random_stats(2, 9, 4, 3, seed=7)
    train_l = torch.tensor([[1.0] * 9, [-2.0] * 9], dtype=torch.float64)  # shift 1: mean -2, weight -0.5
    with pytest.raises(ValueError, match="must be > 0"):
        csi_score(train_f, train_l, test_f, test_l)
    out = csi_score(train_f, train_l, test_f, test_l, strict=False)
    w_sim, _ = csi_weights(train_f, torch.ones_like(train_l))
    expected = [-(sum(w_sim[k].item() * max_similarity(test_f[k], train_f[k])[i].item() for k in range(2))
                  + test_l[0, i].item() / 1.0 + test_l[1, i].item() / -2.0) / 2 for i in range(4)]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="exactly 0"):
        csi_score(train_f, torch.zeros_like(train_l), test_f, test_l, strict=False)
