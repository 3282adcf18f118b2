"""The data source strings of ``load_one_class`` and every command's ``--data``: one grammar, one parser.

==========================  =====================================================================
source                      meaning
==========================  =====================================================================
``embedded``                the built-in generated fundus-like set
``RECIPE:ROOT``             a paper data set in its downloaded layout (``sarscov2``, ``aptos2019``,
                            ``kermany_oct``, ``kvasir``; :mod:`dia_augment.data.recipes`)
``manifest:PATH``           a CSV manifest (:mod:`dia_augment.data.manifest`); a path ending in
                            ``.csv`` is one too
``PATH.npz``                a MedMNIST file
``PATH``                    a class folder (``root/<class>/`` or ``root/{train,test}/<class>/``)
==========================  =====================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dia_augment.data.recipes import RECIPES

__all__ = ["EMBEDDED", "SOURCE_KINDS", "DataSource", "parse_source", "describe_sources"]

#: The source name of the built-in generated data set.
EMBEDDED = "embedded"
#: The kinds of data source.
SOURCE_KINDS = ("embedded", "recipe", "manifest", "npz", "folder")
_MANIFEST = "manifest"


@dataclass(frozen=True)
class DataSource:
    """A parsed data source: its ``kind`` (one of :data:`SOURCE_KINDS`), its ``location`` (a path,
    empty for ``embedded``) and, for a recipe, the recipe's ``name``."""

    kind: str
    location: str
    name: str | None = None


def describe_sources() -> str:
    """A one-line description of the accepted ``source`` values (for error messages and help texts)."""
    recipes = ", ".join(f"'{name}:ROOT'" for name in RECIPES)
    return f"'{EMBEDDED}', a class folder, a MedMNIST .npz file, a CSV manifest ('manifest:PATH' or PATH.csv), or a recipe {recipes}"


def parse_source(source: str | os.PathLike) -> DataSource:
    """Parse a data source string (see the module docstring); the files are not checked here.

    Examples:
        >>> parse_source("sarscov2:/data/ct")
        DataSource(kind='recipe', location='/data/ct', name='sarscov2')
        >>> parse_source("manifest:ct.csv").kind, parse_source("scans/ct.CSV").kind, parse_source("x.npz").kind
        ('manifest', 'manifest', 'npz')
        >>> parse_source("embedded").kind, parse_source("my_data").kind
        ('embedded', 'folder')
    """
    text = os.fspath(source)
    if text == EMBEDDED:
        return DataSource("embedded", "")
    prefix, sep, rest = text.partition(":")
    if sep and prefix == _MANIFEST:
        return DataSource("manifest", rest)
    if sep and prefix in RECIPES:
        return DataSource("recipe", rest, prefix)
    suffix = os.path.splitext(text)[1].lower()
    if suffix == ".csv":
        return DataSource("manifest", text)
    if suffix == ".npz":
        return DataSource("npz", text)
    return DataSource("folder", text)
