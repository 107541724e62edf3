"""The committed console bundle (local/drwave_local/server/console_dist) is what console/ builds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_committed_bundle_matches_a_fresh_build(tmp_path):
    # GIVEN the console's sources and their installed build tools (npm ci in console/)
    console = ROOT / "console"
    if not (console / "node_modules" / ".bin" / "esbuild").exists() or shutil.which("node") is None:
        pytest.skip("console/node_modules is absent: run `npm ci` in console/ to check the committed bundle")
    # WHEN the bundle is built into a temporary directory
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=console, check=True, capture_output=True, timeout=120)
    # THEN it is byte for byte what is committed
    dist = ROOT / "local" / "drwave_local" / "server" / "console_dist"
    for name in ("index.html", "app.css", "app.js"):
        assert (tmp_path / name).read_bytes() == (dist / name).read_bytes(), f"{name}: run `npm run build` in console/"
