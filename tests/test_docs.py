"""Docs that run: every command and Python block of README.md and docs/**/*.md works as written.

Collected from the pages:

- **commands**: the lines of ``bash`` / ``sh`` / ``console`` / unlabelled fenced blocks (with
  ``\\`` continuations joined, ``&&`` chains split, leading ``VAR=value``, ``nice -n N`` and
  ``time`` dropped) and inline code spans that start with one of the command prefixes below and
  pass options. ``dia-augment ...`` and ``python -m dia_augment ...`` are parsed with the real
  parser (:func:`dia_augment.cli.build_parser`); ``python examples/X.py ...`` and
  ``python benchmarks/X.py ...`` with the script's own ``argparse`` parser, by running the
  script until it has parsed its arguments. Every flag must exist and every required one be
  present. Other commands (``pip``, ``mkdocs``, ``torchrun``) are not checked.
- **Python blocks** (``python`` fences): run in order, one namespace per page, in a temporary
  folder.

Markers, an HTML comment on the line(s) right before a fence:

- ``<!-- needs: weights -->`` (or ``data``, ``gpu``, ...): the block's Python is compiled but not
  run, and its commands are parsed but not run;
- ``<!-- run -->``: the block's ``dia-augment`` commands are cheap: they run for real (in a
  temporary folder) and must exit with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_SHELL = ("bash", "sh", "shell", "console", "")
_FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
_MARK = re.compile(r"^<!--\s*(needs:\s*[\w, -]+|run)\s*-->\s*$")
_INLINE = re.compile(r"`([^`]+)`")
_PREFIXES = ("dia-augment ", "python -m dia_augment ", "python examples/", "python benchmarks/")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marks: set[str] = field(default_factory=set)

    @property
    def needs(self) -> bool:
        return any(m.startswith("needs") for m in self.marks)


@dataclass
class Command:
    page: Path
    line: int
    argv: list[str]
    run: bool = False

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {shlex.join(self.argv)}"


def read_blocks(page: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced blocks of a page, and its prose lines (outside fences) with their numbers."""
    blocks, prose, marks = [], [], set()
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        mark = _MARK.match(lines[i].strip())
        if fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            blocks.append(Block(page, i + 1, fence.group(1).lower(), "\n".join(lines[i + 1 : end]), marks))
            marks, i = set(), end + 1
            continue
        if mark:
            marks = marks | {mark.group(1).replace(" ", "")}
        elif lines[i].strip():
            marks = set()
            prose.append((i + 1, lines[i]))
        i += 1
    return blocks, prose


def split_commands(text: str) -> list[list[str]]:
    """Shell lines to argument lists: continuations joined, comments and ``&&`` chains split."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            argv = shlex.split(part, comments=True)
            while argv and re.match(r"^\w+=", argv[0]):
                argv = argv[1:]
            while argv and argv[0] in ("time", "nice"):
                argv = argv[3:] if argv[0] == "nice" and len(argv) > 2 and argv[1] == "-n" else argv[1:]
            if argv:
                commands.append(argv)
    return commands


def is_checked(argv: list[str]) -> bool:
    return " ".join(argv[:3]).startswith(tuple(p.strip() for p in _PREFIXES)) or (
        len(argv) > 1 and argv[0] == "python" and argv[1].startswith(("examples/", "benchmarks/"))
    )


def collect() -> tuple[list[Command], list[list[Block]]]:
    commands: list[Command] = []
    python_pages: list[list[Block]] = []
    for page in PAGES:
        blocks, prose = read_blocks(page)
        for block in blocks:
            if block.lang in _SHELL:
                for argv in split_commands(block.text):
                    if is_checked(argv):
                        commands.append(Command(page, block.line, argv, run="run" in block.marks))
        python = [b for b in blocks if b.lang in ("python", "py")]
        if python:
            python_pages.append(python)
        text = "\n".join(line for _, line in prose)
        for match in _INLINE.finditer(text):
            span = " ".join(match.group(1).split())
            if span.startswith(_PREFIXES) and " --" in span:
                line = prose[text.count("\n", 0, match.start())][0]
                commands.append(Command(page, line, shlex.split(span)))
    return commands, python_pages


COMMANDS, PYTHON_PAGES = collect()


class _Parsed(Exception):
    """Raised by the patched ``parse_args`` once a script has parsed its arguments."""


def parse_script(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``python SCRIPT ARGS`` until its parser has parsed ``ARGS`` (argparse errors exit with 2)."""
    original = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    monkeypatch.setattr(sys, "argv", [str(ROOT / argv[1]), *argv[2:]])
    monkeypatch.syspath_prepend(str((ROOT / argv[1]).parent))
    with pytest.raises(_Parsed):
        runpy.run_path(str(ROOT / argv[1]), run_name="__main__")


def cli_args(argv: list[str]) -> list[str]:
    return argv[3:] if argv[:3] == ["python", "-m", "dia_augment"] else argv[1:]


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_command_parses(command: Command, monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            if command.argv[0] == "python" and command.argv[1].endswith(".py"):
                parse_script(command.argv, monkeypatch)
            else:
                from dia_augment.cli import build_parser

                build_parser().parse_args(cli_args(command.argv))
        except SystemExit as exit:
            if exit.code not in (0, None):
                pytest.fail(f"{command}\n{stderr.getvalue().strip()}")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.run], ids=str)
def test_cheap_command_runs(command: Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia_augment.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(cli_args(command.argv)) == 0, str(command)


@pytest.mark.parametrize("blocks", PYTHON_PAGES, ids=lambda b: str(b[0].page.relative_to(ROOT)))
def test_python_blocks_run(blocks: list[Block], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks:
        where = f"{block.page.relative_to(ROOT)}:{block.line}"
        code = compile(block.text, where, "exec")
        if not block.needs:
            exec(code, namespace)  # noqa: S102 - the documentation's own examples


def test_the_collection_finds_the_pages_commands() -> None:
    """The collector sees the commands of a known page (so a broken collector cannot pass silently)."""
    own_folder = [c for c in COMMANDS if c.page.name == "own_folder.md"]
    assert {c.argv[1] for c in own_folder if c.argv[0] == "dia-augment"} >= {"train-dissolver", "train", "score"}
    assert split_commands("OMP_NUM_THREADS=1 nice -n 10 dia-augment train \\\n    --data x  # note\npip install -e . && a b") == [
        ["dia-augment", "train", "--data", "x"], ["pip", "install", "-e", "."], ["a", "b"]
    ]
