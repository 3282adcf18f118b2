"""The error raised for unusable data: a corrupt image, a malformed archive, an empty folder."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A data set on disk cannot be used as asked; the message names the file or folder and the problem."""
