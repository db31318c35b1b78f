"""The demo blog served by the gateway: a fixed map from URL paths to files in client/.

Only the paths below resolve, each built from a checked name, so no request can
reach a file outside client/ (no `..`, no encoded slashes, no symlink escapes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"
WS_URL_TOKEN = "__WS_URL__"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
# Assets the demo pages may link next to them (a stylesheet, an icon).
_ASSET = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(css|svg|png|ico)$")
_FIXED = {
    "/": "demo/index.html",
    "/pages/about": "demo/pages/about.html",
    "/pages/contacts": "demo/pages/contacts.html",
    "/analytics.js": "analytics.js",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def relative_file(request_path: str) -> str | None:
    """Pure: a request target (path and optional query) -> a path relative to client/, or None."""
    path = urlsplit(request_path).path
    if len(path) > 1:
        path = path.rstrip("/")
    if path in _FIXED:
        return _FIXED[path]
    if path.startswith("/posts/") and _SLUG.match(path[len("/posts/") :]):
        return f"demo/posts/{path[len('/posts/') :]}.html"
    if path.count("/") == 1 and _ASSET.match(path[1:]):
        return f"demo/{path[1:]}"
    return None


@dataclass(frozen=True)
class StaticFile:
    content_type: str
    body: bytes


def render(relative: str, text: bytes, ws_url: str) -> StaticFile:
    """Pure: the response for a file; HTML pages learn the gateway's WebSocket URL."""
    suffix = Path(relative).suffix
    if suffix == ".html":
        text = text.replace(WS_URL_TOKEN.encode(), ws_url.encode())
    return StaticFile(CONTENT_TYPES.get(suffix, "application/octet-stream"), text)


def load(request_path: str, ws_url: str, root: Path = CLIENT_DIR) -> StaticFile | None:
    relative = relative_file(request_path)
    if relative is None:
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return render(relative, path.read_bytes(), ws_url)
