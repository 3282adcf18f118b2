import math

import pytest
import torch

from dia_augment.train.losses import contrastive_loss, contrastive_masks, make_row_labels, masked_nt_xent


def _cos(u, v):
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def _reference_loss(z, positive_of, excluded_of, anchors, temperature):
    """Textbook NT-Xent with explicit loops: for each anchor, -log softmax of its positive (mean over anchors)."""
    total = 0.0
    for a in anchors:
        p = positive_of(a)
        denom = 0.0
        for j in range(z.shape[0]):
            if j == a or j in excluded_of(a):
                continue
            denom += math.exp(_cos(z[a], z[j]) / temperature)
        total += -(_cos(z[a], z[p]) / temperature - math.log(denom))
    return total / len(anchors)


def _paper_code_loss(z, chunk, temperature=0.5, mode="shifted_removed"):
    """The paper code's NT_xent (chunk 2) / NT_xent_neg (chunk 3), written out row by row.

    Rows are ``chunk`` blocks of ``n = K * B`` rows (view 1, view 2, dissolved view). Row ``i``
    is excluded from its own denominator; in ``shifted_removed`` mode, row ``i`` of a clean block
    and row ``i`` of the dissolved block also exclude each other. The loss is the sum of
    ``-log p(i -> i + n)`` and ``-log p(i + n -> i)`` over ``i < n``, divided by ``chunk * n``.
    """
    rows = z.shape[0]
    n = rows // chunk

    def blocked(i, j):
        if i == j:
            return True
        if mode == "shifted_removed" and chunk == 3 and i % n == j % n:
            return (i // n == 2) != (j // n == 2)  # a clean row and the same row of the dissolved block
        return False

    def minus_log_p(i, j):
        denom = sum(math.exp(_cos(z[i], z[m]) / temperature) for m in range(rows) if not blocked(i, m))
        return -(_cos(z[i], z[j]) / temperature - math.log(denom))

    return sum(minus_log_p(i, i + n) + minus_log_p(i + n, i) for i in range(n)) / (chunk * n)


def _z(n, d=5, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_simclr_matches_textbook_nt_xent():
    b = 5
    z = _z(2 * b)
    labels = make_row_labels(b, num_shifts=1)
    expected = _reference_loss(z, lambda a: (a + b) % (2 * b), lambda a: (), range(2 * b), 0.5)
    assert float(contrastive_loss(z, labels, 0.5)) == pytest.approx(expected, rel=1e-6)
    assert float(contrastive_loss(z, labels, 0.5, normalisation="anchor_mean")) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(_paper_code_loss(z, chunk=2), rel=1e-12)


def test_csi_matches_loop_reference():
    b, k = 3, 4
    z = _z(2 * k * b, seed=1)
    labels = make_row_labels(b, num_shifts=k)
    half = k * b

    def positive(a):  # same image, same shift, other view
        return (a + half) % (2 * half)

    expected = _reference_loss(z, positive, lambda a: (), range(2 * half), 0.5)
    assert float(contrastive_loss(z, labels, 0.5)) == pytest.approx(expected, rel=1e-6)
    assert float(contrastive_loss(z, labels, 0.5, normalisation="anchor_mean")) == pytest.approx(expected, rel=1e-6)
    assert float(contrastive_loss(z, labels, 0.5)) == pytest.approx(_paper_code_loss(z, chunk=2), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 0.2])
def test_dia_matches_loop_reference(temperature):
    b, k = 3, 4
    z = _z(3 * k * b, seed=2)
    labels = make_row_labels(b, num_shifts=k, num_dissolved_views=1)
    half = k * b

    def positive(a):
        return (a + half) % (2 * half)

    def own_dissolved(a):  # the dissolved row of the anchor's image with the anchor's shift
        return (2 * half + a % half,)

    expected = _reference_loss(z, positive, own_dissolved, range(2 * half), temperature)
    loss = contrastive_loss(z, labels, temperature, normalisation="anchor_mean")
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # the paper's normalisation: the same sum over the 2KB anchors, divided by 3KB rows
    assert float(contrastive_loss(z, labels, temperature)) == pytest.approx(expected * 2 / 3, rel=1e-6)


@pytest.mark.parametrize("mode", ["shifted_removed", "naive"])
@pytest.mark.parametrize("temperature", [0.5, 0.2])
def test_dia_matches_paper_code_formula(mode, temperature):
    b, k = 3, 4
    z = _z(3 * k * b, seed=5)
    labels = make_row_labels(b, num_shifts=k, num_dissolved_views=1)
    expected = _paper_code_loss(z, chunk=3, temperature=temperature, mode=mode)
    assert float(contrastive_loss(z, labels, temperature, loss_mode=mode)) == pytest.approx(expected, rel=1e-6)


def test_naive_mode_counts_the_own_dissolved_copy_as_a_negative():
    labels = make_row_labels(2, num_shifts=2, num_dissolved_views=1)
    anchors = labels.select(~labels.dissolved)
    _, valid_removed = contrastive_masks(anchors, labels, "shifted_removed")
    _, valid_naive = contrastive_masks(anchors, labels, "naive")
    # row 0 (view 0, shift 0, image 0): its own dissolved copy is row 8
    assert (~valid_removed[0]).nonzero().flatten().tolist() == [0, 8]
    assert (~valid_naive[0]).nonzero().flatten().tolist() == [0]
    # naive: only the diagonal is removed
    assert torch.equal(~valid_naive, torch.eye(8, 12, dtype=torch.bool))
    # the extra negative can only lower the probability of the positive: a higher loss
    z = _z(12, seed=6)
    assert float(contrastive_loss(z, labels, loss_mode="naive")) > float(contrastive_loss(z, labels))


def test_dia_masks_element_by_element_at_b2():
    b, k = 2, 4
    labels = make_row_labels(b, num_shifts=k, num_dissolved_views=1)
    positive, valid = contrastive_masks(labels.select(~labels.dissolved), labels)
    assert positive.shape == (16, 24) and valid.shape == (16, 24)
    for a in range(16):
        va, ka, ia = a // 8, (a % 8) // 2, a % 2
        for j in range(24):
            vj, kj, ij = j // 8, (j % 8) // 2, j % 2
            same_image_shift = ia == ij and ka == kj
            assert bool(positive[a, j]) == (same_image_shift and vj in (0, 1) and vj != va), (a, j)
            assert bool(valid[a, j]) == (not (same_image_shift and (vj == va or vj == 2))), (a, j)
    # spelled out for the first anchor (view 0, shift 0, image 0)
    assert positive[0].nonzero().flatten().tolist() == [8]
    assert (~valid[0]).nonzero().flatten().tolist() == [0, 16]
    # and for view 1, shift 3, image 1 (row 15): positive row 7, masked rows 15 and 23
    assert positive[15].nonzero().flatten().tolist() == [7]
    assert (~valid[15]).nonzero().flatten().tolist() == [15, 23]


def test_masked_nt_xent_known_value_and_gradient():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[False, True, False]])
    val = torch.tensor([[False, True, True]])
    # -log(e^1 / (e^1 + e^0)) = log(1 + e^-1)
    assert float(masked_nt_xent(z[:1], z, pos, val, 1.0)) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    z64 = _z(6, d=3, seed=3).requires_grad_()
    labels = make_row_labels(1, num_shifts=2, num_dissolved_views=1)
    assert torch.autograd.gradcheck(lambda x: contrastive_loss(x, labels, 0.5), (z64,))


def test_loss_is_invariant_to_row_order():
    labels = make_row_labels(3, num_shifts=2, num_dissolved_views=1)
    z = _z(18, seed=4)
    perm = torch.randperm(18, generator=torch.Generator().manual_seed(0))
    permuted = type(labels)(*(t[perm] for t in labels))
    # anchors are averaged, so any order of the same rows gives the same loss
    assert float(contrastive_loss(z[perm], permuted)) == pytest.approx(float(contrastive_loss(z, labels)), rel=1e-9)


def test_bad_inputs_raise():
    labels = make_row_labels(2, num_shifts=2)
    with pytest.raises(ValueError, match="8 row labels"):
        contrastive_loss(torch.randn(7, 4), labels)
    with pytest.raises(ValueError, match="temperature"):
        contrastive_loss(torch.randn(8, 4), labels, temperature=0.0)
    pos = torch.zeros(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="at least one positive"):
        masked_nt_xent(torch.randn(2, 4), torch.randn(3, 4), pos, ~pos)
    with pytest.raises(ValueError, match="num_clean_views"):
        make_row_labels(2, num_clean_views=1)
    with pytest.raises(ValueError, match="loss_mode"):
        contrastive_loss(torch.randn(8, 4), labels, loss_mode="shifted")
    with pytest.raises(ValueError, match="normalisation"):
        contrastive_loss(torch.randn(8, 4), labels, normalisation="mean")
