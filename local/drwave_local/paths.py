"""Where the repository's committed files are, from the installed (editable) local package."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
INFRASTRUCTURE = ROOT / "infrastructure"
