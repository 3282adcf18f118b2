r"""The CSI score on pre-computed features, as an anomaly score (higher = more anomalous).

With :math:`K` shift transformations and :math:`T` test-time augmentations, every image
:math:`x` gives, for each shift :math:`k`, the projection :math:`z_k(x)` and the logit
:math:`l_k(x)` of the shift head for class :math:`k`, both averaged over the :math:`T`
samples. From the :math:`N` normal training images:

.. math::

    a_{k,m} = \frac{z_k(x_m)}{\lVert z_k(x_m) \rVert}, \qquad
    w^{sim}_k = \Bigl(\frac{1}{N}\sum_m \lVert z_k(x_m) \rVert\Bigr)^{-1}, \qquad
    w^{shi}_k = \Bigl(\frac{1}{N}\sum_m l_k(x_m)\Bigr)^{-1},

CSI's normality score of a test image is

.. math::

    s(x) = \frac{1}{K} \sum_k \Bigl[ w^{sim}_k \max_m \langle z_k(x), a_{k,m} \rangle
    + w^{shi}_k \, l_k(x) \Bigr],

and the package reports its negative, the **anomaly score** :math:`a(x) = -s(x)`: one sign
convention everywhere (higher = more anomalous), as anomaly-detection libraries report scores.
The ablations are signed the same way: ``simclr`` is minus the largest cosine similarity of shift
0 to the training set, ``shift`` minus the shift term :math:`\frac{1}{K}\sum_k w^{shi}_k l_k(x)`.

As in CSI, the test feature :math:`z_k(x)` in the dot product is the raw averaged projection,
**not** normalised: only the training axes are. Its norm therefore counts, and
:math:`w^{sim}_k` puts it on the scale of the training norms.

Everything is computed with matrix products over chunks of test rows and training rows
(never a per-sample Python loop): the largest temporary is one ``chunk_size x chunk_size``
similarity block plus one normalised copy of a shift's training features, so 100k training
rows against 10k test rows (D = 128, K = 4) stay well under 1 GiB beyond the inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError
from dia_augment.utils.checks import check_int

__all__ = [
    "check_training_statistics",
    "csi_weights",
    "degenerate_shifts",
    "max_similarity",
    "simclr_score",
    "shift_score",
    "csi_score",
    "resolve_score_method",
    "score_by_method",
    "DEFAULT_CHUNK_SIZE",
    "SCORE_METHODS",
]

#: ``csi``: the full score; ``simclr``: max cosine similarity of shift 0 only; ``shift``: the
#: shift-logit term only.
SCORE_METHODS = ("csi", "simclr", "shift")

#: Rows per chunk on both the test and the training side: one similarity block holds
#: ``DEFAULT_CHUNK_SIZE ** 2`` floats (64 MiB in float32).
DEFAULT_CHUNK_SIZE = 4096


def _check_tensor(x: object, name: str, ndim: int, layout: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != ndim:
        raise InputError(f"{name} must have shape {layout}; got {x.ndim} dimensions with shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputTypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"{name} is empty; got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name} contains NaN or inf values")
    return x


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _check_pair(features: Tensor, shift_logits: Tensor, prefix: str) -> tuple[Tensor, Tensor]:
    _check_tensor(features, f"{prefix}_features", 3, "(K, N, D)")
    _check_tensor(shift_logits, f"{prefix}_shift_logits", 2, "(K, N)")
    if tuple(shift_logits.shape) != tuple(features.shape[:2]):
        raise InputError(
            f"{prefix}_shift_logits must have shape (K, N) = {tuple(features.shape[:2])} to match "
            f"{prefix}_features {tuple(features.shape)}; got {tuple(shift_logits.shape)}"
        )
    return features, shift_logits


def csi_weights(train_features: Tensor, train_shift_logits: Tensor, strict: bool = True) -> tuple[Tensor, Tensor]:
    """The per-shift weights of the CSI score: ``1 / mean ||z_k||`` and ``1 / mean l_k`` over training rows.

    Args:
        train_features: raw (not normalised) averaged projections of the normal training images.
        train_shift_logits: for each shift k, the averaged logit of class k.
        strict: refuse a mean training logit ``<= 0``; ``False`` takes ``1 / mean`` as it is (a
            negative weight flips that shift's term), as the paper's code does; a zero mean raises.

    Returns:
        ``(w_sim, w_shi)``, two ``(K,)`` tensors (float32 or wider).

    Raises:
        InputError: a shift whose mean training logit is ``<= 0`` (the shift head does not
            recognise its own shift on normal data, so ``1 / mean`` would flip or blow up the
            term: the model was not trained with the shift loss; use the ``simclr`` score), or
            whose training projections all vanish.

    Shape:
        - train_features: :math:`(K, N, D)`
        - train_shift_logits: :math:`(K, N)`
        - output: two :math:`(K,)`

    Examples:
        >>> w_sim, w_shi = csi_weights(torch.full((2, 3, 4), 0.5), torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]]))
        >>> w_sim.tolist(), w_shi.tolist()
        ([1.0, 1.0], [0.5, 0.25])
    """
    _check_pair(train_features, train_shift_logits, "train")
    dtype = _compute_dtype(train_features, train_shift_logits)
    return 1.0 / _mean_norms(train_features.to(dtype)), _shift_weights(train_shift_logits.to(dtype), strict)


def _mean_norms(train_features: Tensor) -> Tensor:
    mean_norm = train_features.norm(dim=-1).mean(dim=1)
    if bool((mean_norm <= 0).any()):
        raise InputError(
            "the training projections of some shift are all zero; the CSI weight 1 / mean norm is undefined "
            "(the model collapsed: check its training)"
        )
    return mean_norm


def check_training_statistics(train_features: Tensor, train_shift_logits: Tensor) -> list[int]:
    """Check everything the scores need from the training set, before any test image is scored.

    Args:
        train_features: raw averaged projections of the normal training images.
        train_shift_logits: for each shift k, the averaged logit of class k.

    Returns:
        :func:`degenerate_shifts`: the shifts whose CSI shift weight is undefined (the caller
        applies the fallback policy of :func:`resolve_score_method`).

    Raises:
        InputError: malformed statistics, or a shift whose projections are all zero (no score
            is defined then).

    Shape:
        - train_features: :math:`(K, N, D)`
        - train_shift_logits: :math:`(K, N)`

    Examples:
        >>> check_training_statistics(torch.ones(2, 3, 4), torch.tensor([[1.0, 1.0, 1.0], [0.0, -1.0, 0.0]]))
        [1]
    """
    _check_pair(train_features, train_shift_logits, "train")
    _mean_norms(train_features.to(_compute_dtype(train_features)))
    return degenerate_shifts(train_shift_logits)


def degenerate_shifts(train_shift_logits: Tensor) -> list[int]:
    """The shifts whose mean training logit is ``<= 0``: CSI's shift weight ``1 / mean`` is degenerate.

    An under-trained shift head (a short run, or a model trained without the shift loss) does
    not recognise the shifts of normal images; ``1 / mean`` would then flip the sign of that
    shift's term or blow it up. The policy of the library, the CLI and the example for this
    case is in :func:`resolve_score_method`: fall back to the SimCLR score (``ScoreConfig.fallback``).

    Shape:
        - train_shift_logits: :math:`(K, N)`

    Examples:
        >>> degenerate_shifts(torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]]))
        [1, 2]
    """
    _check_tensor(train_shift_logits, "train_shift_logits", 2, "(K, N)")
    return (train_shift_logits.double().mean(dim=1) <= 0).nonzero().flatten().tolist()


def resolve_score_method(method: str, train_shift_logits: Tensor, fallback: bool = True) -> tuple[str, str | None]:
    """The score method actually used for ``method``, and a one-line note when it differs.

    The one policy for a degenerate CSI shift weight, shared by
    :class:`~dia_augment.detect.AnomalyDetector`, ``dia-augment score`` and the example: when a
    shift's mean training logit is ``<= 0`` (:func:`degenerate_shifts`), ``"csi"`` falls back to
    ``"simclr"`` and the note says why, naming ``--method simclr``; ``"shift"`` has no fallback
    and raises. With ``fallback=False`` (the paper's code) the method is kept and CSI's weights
    are used as they are (the score functions' ``strict=False``); the note says so. It needs only
    the training statistics, so it decides before any test image.

    Args:
        method: one of :data:`SCORE_METHODS`.
        train_shift_logits: :math:`(K, N)` the training images' own-shift logits.
        fallback: fall back to ``"simclr"``; ``False`` keeps the method.

    Returns:
        ``(method_used, note)``; ``note`` is ``None`` when nothing changed.

    Raises:
        InputError: an unknown method, or ``"shift"`` with a degenerate shift weight.

    Examples:
        >>> resolve_score_method("csi", torch.tensor([[1.0, 2.0]]))
        ('csi', None)
        >>> resolve_score_method("csi", torch.tensor([[1.0, -2.0]]))[0]
        'simclr'
        >>> resolve_score_method("csi", torch.tensor([[1.0, -2.0]]), fallback=False)[0]
        'csi'
    """
    if method not in SCORE_METHODS:
        raise InputError(f"method must be one of {SCORE_METHODS}; got {method!r}")
    bad = degenerate_shifts(train_shift_logits) if method != "simclr" else []
    if not bad:
        return method, None
    means = train_shift_logits.double().mean(dim=1)
    values = ", ".join(f"{k} ({means[k].item():.3g})" for k in bad)
    why = (
        f"the shift head's mean training logit is <= 0 for shift(s) {values}: it does not recognise the shifts "
        "of normal images (too short a training run?), so CSI's shift weight 1 / mean is undefined"
    )
    if not fallback:
        return method, f"{why}; kept as the paper's code keeps it (no fallback): that shift's term is flipped or blown up"
    if method == "shift":
        raise InputError(f"the 'shift' score cannot be used: {why}; use --method simclr (method='simclr')")
    return "simclr", f"{why}; using the SimCLR score instead (the same as --method simclr)"


def _shift_weights(train_shift_logits: Tensor, strict: bool = True) -> Tensor:
    mean_logit = train_shift_logits.mean(dim=1)
    if not strict:
        if bool((mean_logit == 0).any()):
            raise InputError("a mean training shift logit is exactly 0: CSI's weight 1 / mean is infinite")
        return 1.0 / mean_logit
    bad = (mean_logit <= 0).nonzero().flatten().tolist()
    if bad:
        values = ", ".join(f"shift {k}: {mean_logit[k].item():.4g}" for k in bad)
        raise InputError(
            f"the mean training shift logit must be > 0 for every shift (the CSI weight is its inverse); got {values}. "
            "The shift head does not recognise the shifts of normal images: train with the shift loss "
            "(mode 'csi' or 'dia'), or use the 'simclr' score"
        )
    return 1.0 / mean_logit


def max_similarity(queries: Tensor, keys: Tensor, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Tensor:
    """For each query row, ``max_m <query, keys_m / ||keys_m||>``: the query is used as given.

    Computed block by block (``chunk_size`` queries against ``chunk_size`` keys at a time) with
    a running maximum, so memory stays bounded for any number of rows.

    Args:
        queries: the test rows (normalise them first for a cosine similarity).
        keys: the training rows; normalised here (a zero row stays zero).
        chunk_size: rows per block on both sides.

    Shape:
        - queries: :math:`(M, D)`
        - keys: :math:`(N, D)`
        - output: :math:`(M,)`

    Examples:
        >>> keys = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
        >>> max_similarity(torch.tensor([[1.0, 0.5], [-1.0, -2.0]]), keys, chunk_size=1).tolist()
        [1.0, -1.0]
    """
    _check_tensor(queries, "queries", 2, "(M, D)")
    _check_tensor(keys, "keys", 2, "(N, D)")
    if queries.shape[1] != keys.shape[1]:
        raise InputError(f"queries and keys must have the same feature size D; got {queries.shape[1]} and {keys.shape[1]}")
    return _max_similarity(queries, keys, check_int(chunk_size, "chunk_size", error=InputError))


def _max_similarity(queries: Tensor, keys: Tensor, chunk_size: int) -> Tensor:
    dtype = _compute_dtype(queries, keys)
    axis = F.normalize(keys.to(dtype), dim=1)
    out = torch.empty(queries.shape[0], dtype=dtype, device=queries.device)
    for i in range(0, queries.shape[0], chunk_size):
        q = queries[i : i + chunk_size].to(dtype)
        best = torch.full((q.shape[0],), float("-inf"), dtype=dtype, device=q.device)
        for j in range(0, axis.shape[0], chunk_size):
            best = torch.maximum(best, (q @ axis[j : j + chunk_size].T).amax(dim=1))
        out[i : i + chunk_size] = best
    return out


def simclr_score(train_features: Tensor, test_features: Tensor, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Tensor:
    """The SimCLR (contrastive-only) anomaly score: minus the max cosine similarity to the training set.

    Both sides are normalised, so this is ``-max_m cos(z(x), z(x_m))``; pass the features of the
    unshifted images (shift 0).

    Args:
        train_features: averaged projections of the normal training images.
        test_features: averaged projections of the test images.
        chunk_size: rows per block on both sides.

    Shape:
        - train_features: :math:`(N, D)`
        - test_features: :math:`(M, D)`
        - output: :math:`(M,)`

    Raises:
        InputError: all training projections are zero (as :func:`csi_weights` raises).

    Examples:
        >>> train = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> simclr_score(train, torch.tensor([[3.0, 0.0], [0.0, -2.0]])).tolist()
        [-1.0, -0.0]
    """
    _check_tensor(test_features, "test_features", 2, "(M, D)")
    _check_tensor(train_features, "train_features", 2, "(N, D)")
    if not bool(train_features.ne(0).any()):
        raise InputError(
            "the training projections are all zero; the cosine similarity of the SimCLR score is undefined "
            "(the model collapsed: check its training)"
        )
    return -max_similarity(F.normalize(test_features, dim=1), train_features, chunk_size)


def shift_score(train_shift_logits: Tensor, test_shift_logits: Tensor, strict: bool = True) -> Tensor:
    """The shift-only part of the CSI anomaly score: ``-mean_k w_shi_k * l_k(x)``.

    Args:
        train_shift_logits: for each shift k, the averaged logit of class k on the training images.
        test_shift_logits: the same on the test images.
        strict: refuse a mean training logit ``<= 0`` (see :func:`csi_weights`).

    Raises:
        InputError: a mean training logit ``<= 0`` (see :func:`csi_weights`).

    Shape:
        - train_shift_logits: :math:`(K, N)`
        - test_shift_logits: :math:`(K, M)`
        - output: :math:`(M,)`

    Examples:
        >>> shift_score(torch.tensor([[2.0, 2.0], [1.0, 1.0]]), torch.tensor([[4.0], [0.0]])).tolist()
        [-1.0]
    """
    _check_tensor(train_shift_logits, "train_shift_logits", 2, "(K, N)")
    _check_tensor(test_shift_logits, "test_shift_logits", 2, "(K, M)")
    if test_shift_logits.shape[0] != train_shift_logits.shape[0]:
        raise InputError(
            f"train and test shift logits must have the same number of shifts K; "
            f"got {train_shift_logits.shape[0]} and {test_shift_logits.shape[0]}"
        )
    dtype = _compute_dtype(train_shift_logits, test_shift_logits)
    w_shi = _shift_weights(train_shift_logits.to(dtype), strict)
    return -(w_shi[:, None] * test_shift_logits.to(dtype)).mean(dim=0)


def csi_score(
    train_features: Tensor,
    train_shift_logits: Tensor,
    test_features: Tensor,
    test_shift_logits: Tensor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    strict: bool = True,
) -> Tensor:
    r"""The CSI anomaly score of each test image (higher = more anomalous); see the module docstring.

    ``score = -mean_k [ w_sim_k * max_m <z_k(x), axis_k,m> + w_shi_k * l_k(x) ]`` with the raw
    (not normalised) test feature :math:`z_k(x)` and the normalised training axes.

    Args:
        train_features: for each shift k, the projections of the normal training images,
            averaged over the test-time samples, not normalised.
        train_shift_logits: for each shift k, the logit of class k, averaged over the samples.
        test_features: the same as ``train_features`` for the test images.
        test_shift_logits: the same as ``train_shift_logits`` for the test images.
        chunk_size: rows per block on both the test and the training side.
        strict: refuse a mean training logit ``<= 0`` (see :func:`csi_weights`).

    Returns:
        The scores, float32 (float64 when an input is float64).

    Raises:
        InputTypeError: a non-tensor or non-float input.
        InputError: inconsistent shapes, NaN / inf values, or a mean training logit ``<= 0``.

    Shape:
        - train_features: :math:`(K, N, D)`
        - train_shift_logits: :math:`(K, N)`
        - test_features: :math:`(K, M, D)`
        - test_shift_logits: :math:`(K, M)`
        - output: :math:`(M,)`

    Examples:
        >>> train_f = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])      # K = 1, N = 2, D = 2
        >>> train_l = torch.tensor([[2.0, 2.0]])
        >>> test_f = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]])       # M = 2
        >>> test_l = torch.tensor([[2.0, 1.0]])
        >>> csi_score(train_f, train_l, test_f, test_l).tolist()    # -[2 + 1, 1 + 0.5]
        [-3.0, -1.5]
    """
    _check_pair(train_features, train_shift_logits, "train")
    _check_pair(test_features, test_shift_logits, "test")
    k, _, d = train_features.shape
    if test_features.shape[0] != k or test_features.shape[2] != d:
        raise InputError(
            f"test_features must have shape (K, M, D) with K = {k} and D = {d} as the training features; "
            f"got {tuple(test_features.shape)}"
        )
    chunk_size = check_int(chunk_size, "chunk_size", error=InputError)
    w_sim, w_shi = csi_weights(train_features, train_shift_logits, strict)
    dtype = _compute_dtype(train_features, train_shift_logits, test_features, test_shift_logits)
    total = w_shi.to(dtype)[:, None] * test_shift_logits.to(dtype)
    for shift in range(k):
        sim = _max_similarity(test_features[shift], train_features[shift], chunk_size)
        total[shift] += w_sim[shift].to(dtype) * sim.to(dtype)
    return -total.mean(dim=0)


def score_by_method(
    method: str,
    train_features: Tensor,
    train_shift_logits: Tensor,
    test_features: Tensor,
    test_shift_logits: Tensor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    strict: bool = True,
) -> Tensor:
    """The anomaly score :data:`SCORE_METHODS` names (higher = more anomalous), from the features of every shift.

    ``"csi"`` is :func:`csi_score`, ``"simclr"`` :func:`simclr_score` on shift 0 and ``"shift"``
    :func:`shift_score`; the method is used as given (see :func:`resolve_score_method` for the
    fallback of a degenerate shift weight).

    Args:
        method: ``"csi"``, ``"simclr"`` or ``"shift"``.
        train_features: the averaged projections of the normal training images, per shift.
        train_shift_logits: the averaged own-shift logits of the training images, per shift.
        test_features: the same as ``train_features`` for the test images.
        test_shift_logits: the same as ``train_shift_logits`` for the test images.
        chunk_size: rows per similarity block (``"csi"``, ``"simclr"``).
        strict: refuse a degenerate shift weight (``"csi"``, ``"shift"``; see :func:`csi_weights`).

    Raises:
        InputError: an unknown method, or what the method's score raises.

    Shape:
        - train_features: :math:`(K, N, D)`
        - train_shift_logits: :math:`(K, N)`
        - test_features: :math:`(K, M, D)`
        - test_shift_logits: :math:`(K, M)`
        - output: :math:`(M,)`

    Examples:
        >>> train_f, train_l = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), torch.tensor([[2.0, 2.0]])
        >>> test_f, test_l = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]]), torch.tensor([[2.0, 1.0]])
        >>> [score_by_method(m, train_f, train_l, test_f, test_l).tolist() for m in SCORE_METHODS]
        [[-3.0, -1.5], [-1.0, -0.7071...], [-1.0, -0.5]]
    """
    if method not in SCORE_METHODS:
        raise InputError(f"method must be one of {SCORE_METHODS}; got {method!r}")
    if method == "simclr":
        return simclr_score(train_features[0], test_features[0], chunk_size)
    if method == "shift":
        return shift_score(train_shift_logits, test_shift_logits, strict)
    return csi_score(train_features, train_shift_logits, test_features, test_shift_logits, chunk_size, strict)
