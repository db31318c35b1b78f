"""Signed posts: the blog's build signs each post's id and title; the views function checks.

Pure. The signature is HMAC-SHA256, keyed with a secret the stack and the blog's build
share, over `blog-analytics:post:v1`, the article id and the title (empty when the page
has none), separated by newlines; sent as 64 lower-case hex digits in `articleSig`. Ids
cannot hold a newline (schema.ARTICLE_ID_PATTERN) and titles cannot (no control
characters), so no two (id, title) pairs sign the same bytes.

With the setting on, a script cannot invent a post (it has no signature for it) and
cannot rename one (the title is signed too). Two secrets may be accepted at once, the
new one and the previous, so the secret can be rotated without refusing pages that were
built with the old one (README, "Signed posts").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

DOMAIN = "blog-analytics:post:v1"
MIN_SECRET = 32
"""Characters: a secret made by `python -c "import secrets; print(secrets.token_urlsafe(32))"` has 43."""
MAX_SECRET = 256


def post_message(article_id: str, title: str) -> bytes:
    return f"{DOMAIN}\n{article_id}\n{title}".encode()


def post_signature(secret: str, article_id: str, title: str) -> str:
    """What the blog's build puts in `data-article-sig` (README shows it in Python and Node)."""
    return hmac.new(secret.encode(), post_message(article_id, title), hashlib.sha256).hexdigest()


def signature_valid(secrets: Iterable[str], article_id: str, title: str, signature: str | None) -> bool:
    """Pure: `signature` signs (article_id, title) under one of the secrets (compared in constant time)."""
    if signature is None:
        return False
    return any(hmac.compare_digest(post_signature(s, article_id, title), signature) for s in secrets)


def check_secret(value: object) -> str:
    """A usable secret, or ValueError saying why (never echoing the value)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if not MIN_SECRET <= len(value) <= MAX_SECRET:
        raise ValueError(f"must be {MIN_SECRET} to {MAX_SECRET} characters")
    if not value.isascii() or not value.isprintable() or value != value.strip():
        raise ValueError("must be printable ASCII without surrounding spaces")
    return value
