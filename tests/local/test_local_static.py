"""The demo blog's fixed path map, and that nothing outside client/ is reachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.static import load, relative_file, render


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("/", "demo/index.html"),
        ("/?utm=1", "demo/index.html"),
        ("/pages/about", "demo/pages/about.html"),
        ("/pages/about/", "demo/pages/about.html"),
        ("/pages/contacts", "demo/pages/contacts.html"),
        ("/posts/hello-world", "demo/posts/hello-world.html"),
        ("/posts/hello-world#top", "demo/posts/hello-world.html"),
        ("/analytics.js", "analytics.js"),
        ("/demo.css", "demo/demo.css"),
    ],
)
def test_relative_file_maps_demo_paths(path: str, relative: str) -> None:
    assert relative_file(path) == relative


@pytest.mark.parametrize(
    "path",
    [
        "/posts/../../README.md",
        "/posts/..%2F..%2FREADME",
        "/posts/",
        "/posts/Hello",
        "/posts/a/b",
        "/posts/.hidden",
        "/pages/other",
        "/index.html",
        "/../Makefile",
        "/%2e%2e/Makefile",
        "/demo/index.html",
        "/handlers/views.py",
        "/x.py",
        "/.env.css",
        "//etc/passwd",
    ],
)
def test_relative_file_refuses_everything_else(path: str) -> None:
    assert relative_file(path) is None


def test_render_replaces_ws_url_in_html_only() -> None:
    html = render("demo/index.html", b'<script data-endpoint="__WS_URL__">', "ws://127.0.0.1:1")
    assert html.body == b'<script data-endpoint="ws://127.0.0.1:1">'
    assert html.content_type == "text/html; charset=utf-8"
    js = render("analytics.js", b"const u = '__WS_URL__';", "ws://127.0.0.1:1")
    assert js.body == b"const u = '__WS_URL__';" and js.content_type.startswith("text/javascript")


def test_load_reads_from_root(tmp_path: Path) -> None:
    (tmp_path / "demo" / "posts").mkdir(parents=True)
    (tmp_path / "demo" / "posts" / "a.html").write_text("<p>__WS_URL__</p>")
    found = load("/posts/a", "ws://h:1", tmp_path)
    assert found is not None and found.body == b"<p>ws://h:1</p>"


def test_load_missing_file_is_none(tmp_path: Path) -> None:
    assert load("/posts/absent", "ws://h:1", tmp_path) is None


def test_load_refuses_symlink_out_of_root(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    root = tmp_path / "client"
    (root / "demo" / "posts").mkdir(parents=True)
    (root / "demo" / "posts" / "leak.html").symlink_to(outside)
    assert load("/posts/leak", "ws://h:1", root) is None
