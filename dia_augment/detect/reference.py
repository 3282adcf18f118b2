r"""The anomaly score in NumPy, on the features an exported encoder returns.

The exported encoder (``dia-augment export``) maps images to the view-averaged features
``z`` :math:`(K, B, D)` and shift logits ``l`` :math:`(K, B)`. What remains of the detector is a
few matrix products with the statistics that :func:`score_statistics` derives from the
artifact (``axes`` = normalised training projections, ``w_sim``, ``w_shi``):

.. math::

    \text{anomaly}(x) = -\frac{1}{K}\sum_k \Bigl[ w^{sim}_k \max_m \langle z_k(x), a_{k,m}\rangle
    + w^{shi}_k\, l_k(x) \Bigr] \quad (\text{method } \texttt{csi}),

    \text{anomaly}(x) = -\max_m \cos(z_0(x), a_{0,m}) \quad (\text{method } \texttt{simclr}).

Higher = more anomalous: the negative of CSI's normality score. An image is anomalous when its
score is above the artifact's threshold. These functions need only NumPy, so a service can
score without torch.
"""

from __future__ import annotations

import numpy as np

from dia_augment.errors import ConfigError

__all__ = ["score_statistics", "anomaly_score_numpy"]


def score_statistics(train_features: np.ndarray, train_shift_logits: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics the score needs from the normal training set.

    Args:
        train_features: :math:`(K, N, D)` view-averaged projections of the training images.
        train_shift_logits: :math:`(K, N)` view-averaged logit of class k for shift k.

    Returns:
        ``axes`` :math:`(K, N, D)` (each row of unit norm), ``w_sim`` and ``w_shi`` :math:`(K,)`
        (``1 / mean ||z_k||`` and ``1 / mean l_k``), float64.

    Examples:
        >>> stats = score_statistics(np.full((1, 2, 2), 3.0), np.array([[2.0, 6.0]]))
        >>> stats["w_sim"].round(4).tolist(), stats["w_shi"].tolist()
        ([0.2357], [0.25])
    """
    z = np.asarray(train_features, dtype=np.float64)
    norms = np.linalg.norm(z, axis=-1)
    return {
        "axes": z / np.maximum(norms, 1e-12)[..., None],
        "w_sim": 1.0 / norms.mean(axis=1),
        "w_shi": 1.0 / np.asarray(train_shift_logits, dtype=np.float64).mean(axis=1),
    }


def anomaly_score_numpy(
    features: np.ndarray, shift_logits: np.ndarray, statistics: dict[str, np.ndarray], method: str = "csi"
) -> np.ndarray:
    """Anomaly scores (higher = more anomalous) of encoder outputs, in NumPy.

    Args:
        features: :math:`(K, B, D)` the encoder's view-averaged projections.
        shift_logits: :math:`(K, B)` the encoder's view-averaged logits.
        statistics: :func:`score_statistics` of the training set.
        method: ``"csi"`` or ``"simclr"`` (the artifact's ``score.method``).

    Returns:
        :math:`(B,)` float64 scores.

    Examples:
        >>> stats = score_statistics(np.array([[[1.0, 0.0], [0.0, 1.0]]]), np.array([[2.0, 2.0]]))
        >>> anomaly_score_numpy(np.array([[[2.0, 0.0], [1.0, 1.0]]]), np.array([[2.0, 1.0]]), stats).tolist()
        [-3.0, -1.5]
    """
    z = np.asarray(features, dtype=np.float64)
    axes = statistics["axes"]
    if method == "simclr":
        unit = z[0] / np.maximum(np.linalg.norm(z[0], axis=-1, keepdims=True), 1e-12)
        return -(unit @ axes[0].T).max(axis=1)
    if method != "csi":
        raise ConfigError(f"method must be 'csi' or 'simclr'; got {method!r}")
    similarity = np.einsum("kbd,knd->kbn", z, axes).max(axis=2)  # (K, B)
    logits = np.asarray(shift_logits, dtype=np.float64)
    return -(statistics["w_sim"][:, None] * similarity + statistics["w_shi"][:, None] * logits).mean(axis=0)
