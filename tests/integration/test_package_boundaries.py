"""The layers of the deployed package hold: each imports only the layers below it, only adapters import AWS SDKs,
and nothing deployed imports the local runtime."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "drwave"
LOCAL_PACKAGE = ROOT / "local" / "drwave_local"
NEVER_DEPLOYED = {"drwave_local", "moto", "yaml"}
AWS_SDK = {"boto3", "botocore"}
# Bottom to top: a layer may import itself and any layer before it, never one after it.
LAYERS = ("models", "core", "adapters", "engine", "control", "handlers")


def modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(package.rglob("*.py"))


def imported_modules(source: str, filename: str = "<module>") -> set[str]:
    """Dotted names a module imports, wherever the import statement is (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def layer_of(relative: str) -> str | None:
    first = relative.split("/", maxsplit=1)[0]
    return first if first in LAYERS else None


def layer_violations(relative: str, imports: set[str]) -> set[str]:
    """The rules a module of the deployed package breaks, as readable sentences."""
    problems: set[str] = set()
    if roots(imports) & NEVER_DEPLOYED:
        problems.add(f"{relative} imports the local-only {sorted(roots(imports) & NEVER_DEPLOYED)}")
    own = layer_of(relative)
    if roots(imports) & AWS_SDK and own != "adapters":
        problems.add(f"{relative} imports the AWS SDK outside adapters/")
    if own is not None:
        allowed = set(LAYERS[: LAYERS.index(own) + 1])
        for name in imports:
            parts = name.split(".")
            if parts[0] == "drwave" and len(parts) > 1 and parts[1] in LAYERS and parts[1] not in allowed:
                problems.add(f"{relative} ({own}) imports {name} from the {parts[1]} layer above it")
    return problems


def test_the_package_is_where_the_test_expects_it():
    # GIVEN the repository layout WHEN the deployed package is listed THEN every layer we check has modules
    names = {p.relative_to(PACKAGE).as_posix() for p in modules()}
    assert {"adapters/drs.py", "engine/loop.py", "engine/ports.py", "core/decide.py", "models/execution.py"} <= names
    assert {layer_of(n) for n in names} >= set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_deployed_module_imports_only_layers_below_it_and_the_sdk_only_in_adapters(path):
    # GIVEN a module of the deployed package WHEN its imports are read
    relative = path.relative_to(PACKAGE).as_posix()
    problems = layer_violations(relative, imported_modules(path.read_text(encoding="utf-8"), str(path)))
    # THEN it breaks none of the layering rules
    assert problems == set()


@pytest.mark.parametrize(
    ("relative", "source", "broken"),
    [
        ("core/decide.py", "import boto3", "AWS SDK"),
        ("models/plan.py", "from drwave.adapters.store import DynamoStore", "adapters layer above"),
        ("core/launch.py", "from drwave.handlers import api", "handlers layer above"),
        ("core/launch.py", "from drwave.control.service import ControlPlane", "control layer above"),
        ("control/service.py", "from drwave.handlers.common import detail_of", "handlers layer above"),
        ("engine/loop.py", "from drwave.control import service", "control layer above"),
        ("handlers/api.py", "import drwave_local.cli.main", "local-only"),
        ("handlers/api.py", "def f():\n    import boto3", "AWS SDK outside adapters"),
        ("engine/ports.py", "from botocore.config import Config", "AWS SDK outside adapters"),
    ],
)
def test_the_rules_catch_an_import_that_breaks_them(relative, source, broken):
    # GIVEN a module that adds one forbidden import WHEN the rules read it THEN they name the broken rule
    problems = layer_violations(relative, imported_modules(source))
    assert any(broken in p for p in problems), problems


def test_the_rules_allow_the_imports_the_layers_are_built_on():
    # GIVEN imports that follow the layering WHEN the rules read them THEN nothing is reported
    assert layer_violations("control/service.py", imported_modules("from drwave.engine.loop import apply")) == set()
    assert layer_violations("adapters/drs.py", imported_modules("import boto3")) == set()
    assert layer_violations("handlers/api.py", imported_modules("from drwave.control.service import C")) == set()


def test_the_local_package_is_the_only_other_importer_of_the_aws_sdk():
    # GIVEN every module outside adapters that imports boto3/botocore, in both packages
    offenders = {
        p.relative_to(ROOT).as_posix()
        for p in modules(PACKAGE) + modules(LOCAL_PACKAGE)
        if roots(imported_modules(p.read_text(encoding="utf-8"))) & AWS_SDK
    }
    # THEN each is an adapter of the deployed package or part of the local runtime
    assert all(o.startswith(("functions/drwave/adapters/", "local/drwave_local/")) for o in offenders), offenders


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
