"""The bad-input suite: one table of wrong inputs per area, each with the error it must get.

Every case is a call that must raise one of the package's exception classes
(:mod:`dia_augment.errors`) with a message naming the argument, file or field at fault. A case is
built with :func:`case` and checked with :func:`assert_raises_naming`; a case that fails today in
code owned elsewhere carries ``xfail=`` (strict, so it must be removed once fixed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from dia_augment.errors import DiaError

Call = Callable[[Path], Any]


def case(case_id: str, call: Call, error: type[BaseException], *names: str, xfail: str | None = None) -> Any:
    """One row of a table: ``call(tmp_path)`` must raise ``error`` with each of ``names`` in its message."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(call, error, names, id=case_id, marks=marks)


def assert_raises_naming(call: Call, tmp_path: Path, error: type[BaseException], names: tuple[str, ...]) -> BaseException:
    """Run ``call(tmp_path)``; it must raise ``error`` (a package error) whose message contains every name."""
    assert issubclass(error, DiaError), f"{error.__name__} is not one of the package's error classes"
    with pytest.raises(error) as info:
        call(tmp_path)
    message = str(info.value)
    missing = [name for name in names if name not in message]
    assert not missing, f"the {type(info.value).__name__} message does not name {missing}: {message!r}"
    return info.value


def images(b: int = 2, c: int = 1, h: int = 16, w: int | None = None, seed: int = 0) -> torch.Tensor:
    """A valid ``(B, C, H, W)`` batch in ``[0, 1]``."""
    return torch.rand(b, c, h, h if w is None else w, generator=torch.Generator().manual_seed(seed))


def with_value(x: torch.Tensor, value: float, row: int = 0) -> torch.Tensor:
    """``x`` with one pixel of row ``row`` set to ``value`` (NaN, inf, 255 ...)."""
    x = x.clone()
    x[row, 0, 0, 0] = value
    return x


@functools.cache
def micro_ddpm(resolution: int = 8, channels: int = 1):  # noqa: ANN201 (a DDPMDissolving)
    """A tiny random DDPM dissolver (built once)."""
    from dia_augment.filters import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet

    torch.manual_seed(0)
    return DDPMDissolving(make_unet("micro", resolution, channels), make_scheduler())
