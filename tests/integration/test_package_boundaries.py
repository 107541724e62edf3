"""The deployed package (functions/drwave) never imports the local runtime, and only adapters import AWS SDKs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "drwave"
NEVER_DEPLOYED = {"drwave_local", "moto", "yaml"}
AWS_SDK = {"boto3", "botocore"}
# The adapters are the ports' implementations; deps.py builds them from the Lambda environment.
MAY_USE_AWS_SDK = ("adapters/", "handlers/deps.py")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports, wherever the import statement is (functions included)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_package_is_where_the_test_expects_it():
    # GIVEN the repository layout WHEN the deployed package is listed THEN it has the layers we check
    names = {p.relative_to(PACKAGE).as_posix() for p in modules()}
    assert {"adapters/drs.py", "handlers/deps.py", "core/decide.py", "models/execution.py"} <= names


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_deployed_module_never_imports_the_local_runtime_moto_or_yaml(path):
    # GIVEN a module of the deployed package WHEN its imports are read THEN none is local-only
    assert imported_roots(path) & NEVER_DEPLOYED == set()


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_only_adapters_and_the_dependency_builder_import_the_aws_sdk(path):
    # GIVEN a module of the deployed package
    relative = path.relative_to(PACKAGE).as_posix()
    # WHEN its imports are read THEN boto3/botocore appear only in adapters and handlers/deps.py
    if not relative.startswith(MAY_USE_AWS_SDK):
        assert imported_roots(path) & AWS_SDK == set(), f"{relative} imports the AWS SDK"


def test_core_and_models_are_free_of_the_aws_sdk():
    # GIVEN the pure layers WHEN every import in them is read THEN boto3 and botocore are absent
    pure = [p for p in modules() if p.relative_to(PACKAGE).parts[0] in ("core", "models")]
    assert pure
    offenders = {p.relative_to(PACKAGE).as_posix() for p in pure if imported_roots(p) & AWS_SDK}
    assert offenders == set()


def test_importing_every_deployed_module_loads_no_local_only_package():
    # GIVEN a fresh interpreter (this test session has moto and the local runtime loaded already)
    script = (
        "import importlib, pkgutil, sys, drwave\n"
        "for m in pkgutil.walk_packages(drwave.__path__, 'drwave.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'drwave_local', 'moto', 'yaml', 'boto3'}))\n"
    )
    # WHEN it imports every module of the deployed package
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # THEN none of the local-only packages was loaded, nor boto3 (clients are built on first use, not at import)
    assert result.stdout.strip() == "[]"
