"""The deployed console's PKCE helpers (console/src/auth.ts), run in Node.js: RFC 7636's example challenge, random
verifiers of the allowed shape, and the hosted UI authorize URL the page goes to."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "console"
# Bundles auth.ts as an ES module with the console's own esbuild, imports it, prints what the test checks.
SCRIPT = """
import { build } from "esbuild";
import { pathToFileURL } from "node:url";
const out = process.argv[1];
await build({ entryPoints: ["src/auth.ts"], bundle: true, format: "esm", outfile: out, logLevel: "error" });
const auth = await import(pathToFileURL(out).href);
const cognito = { domain: "d.auth.eu-west-1.amazoncognito.com", clientId: "cid",
                  redirectUri: "https://d1.cloudfront.net/", scopes: ["openid", "email", "profile"] };
const verifiers = Array.from({ length: 20 }, () => auth.randomVerifier());
console.log(JSON.stringify({
  rfc7636: await auth.challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
  verifiers,
  authorize: auth.authorizeUrl(cognito, "the-state", "the-challenge"),
}));
"""


@pytest.fixture(scope="module")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not (CONSOLE / "node_modules" / "esbuild").exists() or shutil.which("node") is None:
        pytest.skip("console/node_modules is absent: run `npm ci` in console/ to test the PKCE helpers")
    out = tmp_path_factory.mktemp("pkce") / "auth.mjs"
    run = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, str(out)],
        cwd=CONSOLE,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_the_s256_challenge_of_rfc_7636s_example_verifier_is_the_rfcs(helpers: dict[str, Any]) -> None:
    # GIVEN RFC 7636 appendix B's verifier  WHEN the page derives its challenge  THEN it is the RFC's
    assert helpers["rfc7636"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_each_verifier_is_43_unreserved_characters_and_never_repeats(helpers: dict[str, Any]) -> None:
    # GIVEN twenty verifiers  THEN each is 43 base64url characters (32 random bytes), and all differ
    verifiers = helpers["verifiers"]
    assert all(
        len(v) == 43 and set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for v in verifiers
    )
    assert len(set(verifiers)) == len(verifiers)


def test_the_authorize_url_asks_the_hosted_ui_for_a_code_with_the_s256_challenge(helpers: dict[str, Any]) -> None:
    # GIVEN the page's authorize URL  THEN it is the hosted UI's /oauth2/authorize, for a code, bound to the state
    url = urllib.parse.urlsplit(helpers["authorize"])
    assert (url.scheme, url.netloc, url.path) == ("https", "d.auth.eu-west-1.amazoncognito.com", "/oauth2/authorize")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://d1.cloudfront.net/",
        "scope": "openid email profile",
        "state": "the-state",
        "code_challenge": "the-challenge",
        "code_challenge_method": "S256",
    }
