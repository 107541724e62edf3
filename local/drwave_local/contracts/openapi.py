"""The committed OpenAPI document of the REST API, regenerated from its routes.

Run `python -m drwave_local.contracts.openapi`.
"""

from __future__ import annotations

import argparse
import json
import sys

from drwave_local.paths import INFRASTRUCTURE

OPENAPI_PATH = INFRASTRUCTURE / "openapi.json"


def generated() -> str:
    """The document Powertools builds from the API's routes and models, formatted for review."""
    from drwave.handlers.api import openapi_json  # noqa: PLC0415 - imports Powertools only when asked

    return json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with --check exit 1 if the committed one is out of date."""
    parser = argparse.ArgumentParser(prog="python -m drwave_local.contracts.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if infrastructure/openapi.json is out of date")
    args = parser.parse_args(argv)
    document = generated()
    if args.check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
        if current != document:
            print(f"{OPENAPI_PATH} is out of date: run `python -m drwave_local.contracts.openapi`", file=sys.stderr)
            return 1
        print(f"{OPENAPI_PATH} is up to date")
        return 0
    OPENAPI_PATH.write_text(document, encoding="utf-8")
    print(f"wrote {OPENAPI_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
