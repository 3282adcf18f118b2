"""The package's layers are a contract: ``lint-imports`` (import-linter) checks it, and so does pytest.

The contract is ``[tool.importlinter]`` in ``pyproject.toml``: from the top, the command line,
then the detector and the probe, localisation, training and scoring, augmentation, the
filters / models / shifts / data, the utilities, the errors. A module may import only from the
layers below its own, and siblings joined by ``|`` not from each other.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]


def _contract() -> dict:
    (contract,) = read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    return contract


def test_lint_imports_keeps_the_layers():
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    out = subprocess.run([sys.executable, "-c", code, "--no-cache", "--no-logo", "pyproject.toml"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 1 kept, 0 broken." in out.stdout


def test_the_contract_covers_every_subpackage_and_ignores_no_import():
    contract = _contract()
    assert contract["type"] == "layers" and "ignore_imports" not in contract
    listed = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    subpackages = {f"dia_augment.{p.parent.name}" for p in (ROOT / "dia_augment").glob("*/__init__.py")}
    assert listed == subpackages | {"dia_augment.errors"}


def test_the_architecture_page_states_the_contract():
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert "\n".join(_contract()["layers"]) in page
