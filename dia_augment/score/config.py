"""``ScoreConfig``: every setting of the one scorer, defined once.

The detector (:class:`~dia_augment.detect.AnomalyDetector`), ``dia-augment score``,
``dia-augment train`` (the detector it saves) and the example take their test-time settings from
here; the command line generates one option per field (``--num-views``, ``--resize-factor``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dia_augment.errors import ConfigError
from dia_augment.score.csi import DEFAULT_CHUNK_SIZE, SCORE_METHODS
from dia_augment.score.views import RESIZE_FACTOR
from dia_augment.shift.transforms import SHIFT_KINDS
from dia_augment.utils.config import JsonConfig, check_fields
from dia_augment.utils.precision import PRECISIONS

__all__ = ["ScoreConfig"]


@dataclass(frozen=True)
class ScoreConfig(JsonConfig):
    """How a trained model scores images: the test-time views, the score and how it runs.

    Args:
        method: ``"csi"``, ``"simclr"`` or ``"shift"``; ``None``: ``csi``, or ``simclr`` for a model trained
            in ``simclr`` mode.
        num_views: T, the fixed test-time views averaged per image (10 in the paper's evaluation).
        resize_factor: the area of the test-time crop as a fraction of the image (0.54 in the paper's evaluation).
        resize_fix: a fixed crop area; ``--no-resize-fix`` draws it from ``[resize_factor, 1]``.
        hflip: random horizontal flips among the views.
        colour: the training's colour jitter (p = 0.8) and grayscale (p = 0.2) among the views, as the paper's
            evaluation applies them.
        shift: the test-time shifts; ``None``: the ones the model was trained with (the paper's code evaluates
            CutPerm models with rotation: ``--shift rotation``).
        fallback: use the SimCLR score when a shift's mean training logit is <= 0 (CSI's weight 1 / mean is then
            undefined); ``--no-fallback`` keeps CSI's weights as they are, as the paper's code does.
        seed: the seed of the views.
        batch_size: images per forward pass (the model sees T K of them per image).
        chunk_size: rows per block of the similarity search.
        mixed_precision: ``"auto"`` (bf16 where the hardware runs it natively, else float32), ``"no"`` (float32),
            ``"fp16"`` (CUDA) or ``"bf16"``: the model under ``torch.autocast``; the views, the averages and the
            score stay float32.
        channels_last: hand the model channels_last (NHWC) rows.
        compile: run the model through ``torch.compile`` (the first batch pays the compile time).

    Examples:
        >>> ScoreConfig().num_views, ScoreConfig().resize_factor
        (10, 0.54)
        >>> ScoreConfig.from_dict(ScoreConfig(num_views=4).to_dict()).num_views
        4
    """

    method: str | None = field(default=None, metadata={"choices": SCORE_METHODS})
    num_views: int = field(default=10, metadata={"min": 1})
    resize_factor: float = RESIZE_FACTOR
    resize_fix: bool = True
    hflip: bool = True
    colour: bool = True
    shift: str | None = field(default=None, metadata={"choices": SHIFT_KINDS})
    fallback: bool = True
    seed: int = 0
    batch_size: int = field(default=16, metadata={"min": 1})
    chunk_size: int = field(default=DEFAULT_CHUNK_SIZE, metadata={"min": 1})
    mixed_precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    channels_last: bool = False
    compile: bool = False

    #: Fields that change how fast a score is computed, not its value (beyond float rounding).
    RUNTIME = ("batch_size", "chunk_size", "mixed_precision", "channels_last", "compile")

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0 < self.resize_factor <= 1:
            raise ConfigError(f"ScoreConfig.resize_factor must be in (0, 1]; got {self.resize_factor}")

    @classmethod
    def reference(cls, **overrides: Any) -> ScoreConfig:
        """The paper code's evaluation: 10 samples, crop area 0.54 fixed, rotation, no fallback.

        Examples:
            >>> ScoreConfig.reference().shift, ScoreConfig.reference().fallback
            ('rotation', False)
        """
        return cls(**{**dict(num_views=10, resize_factor=0.54, resize_fix=True, hflip=True, colour=True,
                             shift="rotation", fallback=False), **overrides})

    def method_for(self, mode: str | None) -> str:
        """The score method for a model trained in ``mode``: the field, or its default."""
        return self.method or ("simclr" if mode == "simclr" else "csi")
