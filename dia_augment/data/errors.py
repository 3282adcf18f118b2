"""The error raised for unusable data (kept here for imports; defined in :mod:`dia_augment.errors`)."""

from __future__ import annotations

from dia_augment.errors import DataError

__all__ = ["DataError"]
