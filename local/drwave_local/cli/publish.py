"""`drwave console publish`: upload the web console to the deployed stack's bucket, with its config.json.

The page finds the API and how to sign in in `/ui/config.json`: the stack's ApiUrl, the hosted UI domain and the
console's app client. Locally (`drwave serve`) there is no such file, and the page keeps the local identity switch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drwave_local.server.console import DIST, TYPES, UI_PREFIX

CONSOLE_OUTPUTS = ("ConsoleBucketName", "ConsoleUrl", "ApiUrl", "UserPoolDomain", "ConsoleClientId")
CONFIG_KEY = UI_PREFIX.lstrip("/") + "config.json"
# Each publish replaces the files under the same names: browsers and CloudFront revalidate instead of keeping them.
CACHE_CONTROL = "no-cache"
SCOPES = ("openid", "email", "profile")


@dataclass(frozen=True)
class Upload:
    key: str
    content_type: str
    body: bytes


def console_config(outputs: dict[str, str]) -> dict[str, Any]:
    """What the deployed page reads at /ui/config.json."""
    console_url = outputs["ConsoleUrl"].rstrip("/")
    return {
        "apiUrl": outputs["ApiUrl"].rstrip("/"),
        "cognito": {
            "domain": outputs["UserPoolDomain"].removeprefix("https://").rstrip("/"),
            "clientId": outputs["ConsoleClientId"],
            "redirectUri": f"{console_url}/",
            "scopes": list(SCOPES),
        },
    }


def uploads(outputs: dict[str, str], dist: Path = DIST) -> list[Upload]:
    """The objects to put, in the order to put them: the files the page loads, its config, then the page itself
    (so a reader never gets a new page with old files)."""
    files = sorted(p for p in dist.iterdir() if p.is_file() and p.suffix in TYPES and p.name != "index.html")
    if not (dist / "index.html").is_file() or not files:
        raise FileNotFoundError(f"{dist}: no console bundle (build it with `make console`)")
    planned = [Upload(UI_PREFIX.lstrip("/") + p.name, TYPES[p.suffix], p.read_bytes()) for p in files]
    config = json.dumps(console_config(outputs), indent=2).encode("utf-8") + b"\n"
    planned.append(Upload(CONFIG_KEY, "application/json; charset=utf-8", config))
    planned.append(Upload("index.html", TYPES[".html"], (dist / "index.html").read_bytes()))
    return planned


def publish(s3: Any, bucket: str, planned: list[Upload]) -> None:
    """Put every object (S3 encrypts them with the bucket's default encryption)."""
    for upload in planned:
        s3.put_object(
            Bucket=bucket,
            Key=upload.key,
            Body=upload.body,
            ContentType=upload.content_type,
            CacheControl=CACHE_CONTROL,
        )
