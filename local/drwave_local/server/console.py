"""The web console's static files, served by `drwave serve` at `/` (index.html) and `/ui/<file>`.

The bundle in console_dist/ is built from console/ (`npm ci && npm run build`) and committed, so a fresh clone
serves the console without Node.js. The page calls the API on the same origin; the local server's cross-site
refusals apply to those calls, not to these files (they carry no data).
"""

from __future__ import annotations

from pathlib import Path

DIST = Path(__file__).resolve().parent / "console_dist"
UI_PREFIX = "/ui/"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# The page runs only its own script and talks only to its own origin; no other site may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

Response = tuple[int, dict[str, str], bytes]


def is_console_path(method: str, path: str) -> bool:
    """True for the requests this module answers: GET/HEAD of / and /ui/<file>."""
    return method in ("GET", "HEAD") and (path in ("/", "/index.html") or path.startswith(UI_PREFIX))


def static_response(path: str) -> Response:
    """The file a console path names, or a 404 page."""
    name = "index.html" if path in ("/", "/index.html") else path.removeprefix(UI_PREFIX)
    target = (DIST / name).resolve()
    if not target.is_relative_to(DIST) or not target.is_file() or target.suffix not in TYPES:
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"no such console file\n"
    return 200, {"Content-Type": TYPES[target.suffix], **SECURITY_HEADERS}, target.read_bytes()
