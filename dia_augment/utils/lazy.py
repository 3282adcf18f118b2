"""Packages whose public names are imported on first use, so that importing them stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package that imports ``names`` on first use.

    Args:
        namespace: the package's ``globals()``; a name, once imported, is stored there.
        names: public name -> the module that defines it.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's top level.

    Examples:
        >>> namespace = {"__name__": "pkg", "__all__": ["sqrt"]}
        >>> getattr_, dir_ = lazy_exports(namespace, {"sqrt": "math"})
        >>> getattr_("sqrt")(4.0), "sqrt" in namespace, dir_()
        (2.0, True, ['__all__', '__name__', 'sqrt'])
        >>> getattr_("cbrt")
        Traceback (most recent call last):
        ...
        AttributeError: module 'pkg' has no attribute 'cbrt'
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(names[name]), name)
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
