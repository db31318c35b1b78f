"""Hypothesis strategies for frames a client might send, each with what must come back.

Every frame is made as text the way a hostile client would write it: `json.dumps`
with ASCII escapes, so a lone surrogate travels as a `\\ud800` escape (a WebSocket
text frame cannot carry one raw) and NaN/Infinity as the bare literals Python emits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

Expect = Literal["views_ok", "stats", "error", "close", "any"]
"""views_ok: a `views` reply with status ok; stats: a `stats` reply; error: an `error`
reply; close: the connection closed with 1009; any: an ok `views` reply or an error."""

ERROR_CODES = {"invalid_json", "invalid_event", "unknown_route", "unknown_page", "too_large", "unavailable"}
FRAME_LIMIT = 32 * 1024  # too_large above this (handlers/api.py)
MESSAGE_LIMIT = 128 * 1024  # the gateway closes with 1009 above this (API Gateway's quota)

ARTICLE_IDS = ["fuzz-a", "fuzz-b", "Fuzz.C_1", "fuzz/d~e:f", "f" * 128]
PAGES = {
    "/": "Home_Page",
    "/?utm_source=x#top": "Home_Page",
    "/pages/about": "About_Page",
    "/pages/about/team": "About_Page",
    "/pages/contacts": "Contact_Page",
}
# Sent referrer -> the row the referrer counter keeps: its origin only.
REFERRERS = {
    "https://news.example.com/item?id=1": "https://news.example.com",
    "HTTPS://user:pw@Search.Example:443/q#frag": "https://search.example",
    "http://a.example": "http://a.example",
}
# Referrers with no usable origin: the view counts, no referrer row.
UNCOUNTED_REFERRERS = [
    "javascript:alert(1)",
    "ftp://a.example/",
    "https://",
    "//a.example/x",
    "https://a.example:99999/",
    "http://[::1",
    "https://a\uff03b/",
]
# Ids a human reads as the ids above (or as each other): other Unicode forms of them.
LOOKALIKE_IDS = [
    "caf\u00e9",  # NFC
    "cafe\u0301",  # NFD of the same word
    "\uff46uzz-a",  # fullwidth f: NFKC gives fuzz-a
    "fuzz\u2010a",  # Unicode hyphen
    "\ufb01zz-a",  # fi ligature
    "fuzz-a\u200b",  # zero-width space
    " fuzz-a",
    "Ｆuzz.C_1",
]
STRING_FIELDS = ["articleId", "articleTitle", "previousPage", "currentPage", "referrer", "viewId"]
FIELD_LIMITS = {
    "articleId": 128,
    "articleTitle": 300,
    "previousPage": 2048,
    "currentPage": 2048,
    "referrer": 2048,
    "viewId": 64,
}
VIEW_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# viewIds a client must not send: too short, too long, or with a character outside A-Z a-z 0-9 _ -
BAD_VIEW_IDS = [
    "",
    "a" * 15,
    "a" * 65,
    "aaaaaaaaaaaaaaa=",  # base64 padding
    "+/+/+/+/+/+/+/+/",  # base64, not base64url
    "aaaaaaaa:aaaaaaa",  # the server's own `v:` separator
    "aaaaaaaaaaaaaaa ",
    "\uff41" * 16,  # fullwidth a
    "\u0661" * 16,  # Arabic-Indic digit one: a digit to str.isdigit, not to the contract
    "aaaaaaaaaaaaaa\u00e9",
]


@dataclass(frozen=True)
class Frame:
    kind: str
    """Which generator made it (for the figures)."""
    data: str | bytes
    expect: Expect


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


safe_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def valid_views(draw: st.DrawFn) -> dict[str, Any]:
    """A views message that must be counted: a post (known id) or a counted page."""
    message: dict[str, Any] = {"message": "views"}
    if draw(st.booleans()):
        message["articleId"] = draw(st.sampled_from(ARTICLE_IDS))
        if draw(st.booleans()):
            # 150 characters of at most 4 bytes: within both limits, 300 characters and 600 bytes.
            message["articleTitle"] = draw(st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf")), max_size=150))
        if draw(st.booleans()):
            message["currentPage"] = "/posts/" + message["articleId"]
    else:
        message["currentPage"] = draw(st.sampled_from(sorted(PAGES)))
    if draw(st.booleans()):
        message["refreshed"] = draw(st.booleans())
    if draw(st.booleans()):
        message["previousPage"] = draw(safe_text)
    if draw(st.booleans()):
        message["referrer"] = draw(st.sampled_from([*sorted(REFERRERS), *UNCOUNTED_REFERRERS]))
    if draw(st.booleans()):
        # Any prefix a client may choose, then a digest of the rest of the view: when
        # hypothesis draws the same viewId twice it is the same view resent (counted once),
        # never another view under a reused id (which counts one of the two, either one).
        prefix = draw(st.text(st.sampled_from(VIEW_ID_ALPHABET), max_size=31))
        digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()[:32]
        message["viewId"] = prefix + digest
    return message


def _insert(draw: st.DrawFn, text: str, char: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + char + text[at:]


@st.composite
def broken_views(draw: st.DrawFn) -> Frame:  # noqa: PLR0912 - one branch per kind of breakage reads as a table
    """A valid view with one thing wrong: it must be refused, and never counted."""
    message = draw(valid_views())
    how = draw(
        st.sampled_from(
            [
                "wrong_type",
                "missing_message",
                "unknown_field",
                "too_long",
                "control",
                "surrogate",
                "format_title",
                "nan",
                "deep",
                "lookalike_id",
                "bad_page",
                "bad_view_id",
            ]
        )
    )
    field = draw(st.sampled_from(STRING_FIELDS))
    if how == "wrong_type":
        field = draw(st.sampled_from([*STRING_FIELDS, "refreshed"]))
        if field == "refreshed":
            message[field] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.booleans())))
        else:
            message[field] = draw(
                st.one_of(
                    st.booleans(),
                    st.integers(),
                    st.floats(allow_nan=False),
                    st.lists(json_leaf, max_size=3),
                    st.dictionaries(st.text(max_size=5), json_leaf, max_size=3),
                )
            )
    elif how == "missing_message":
        del message["message"]
    elif how == "unknown_field":
        name = draw(
            st.text(min_size=1, max_size=12).filter(lambda n: n not in {*STRING_FIELDS, "message", "refreshed"})
        )
        message[name] = draw(json_value)
    elif how == "too_long":
        size = draw(st.integers(FIELD_LIMITS[field] + 1, min(FIELD_LIMITS[field] * 4, 9000)))
        message[field] = draw(st.sampled_from("ab/-")) * size
    elif how == "control":
        char = chr(draw(st.sampled_from([*range(0x20), 0x7F, *range(0x80, 0xA0)])))
        message[field] = _insert(draw, str(message.get(field, "fuzz-a")), char)
    elif how == "surrogate":
        message[field] = _insert(draw, str(message.get(field, "fuzz-a")), chr(draw(st.integers(0xD800, 0xDFFF))))
    elif how == "format_title":  # invisible characters that can hide or reorder a title's text
        char = draw(st.sampled_from(["\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\u00ad"]))
        message["articleTitle"] = _insert(draw, str(message.get("articleTitle", "Hello")), char)
    elif how == "nan":
        text = dumps(message)
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        key = draw(st.sampled_from([*STRING_FIELDS, "refreshed", "extra"]))
        return Frame("nan", text[:-1] + f', "{key}": {literal}}}', "error")
    elif how == "deep":
        depth = draw(st.sampled_from([5, 50, 900, 3000, 12000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = dumps(message)
        return Frame("deep", text[:-1] + f', "{field}": ' + opener * depth + "1" + closer * depth + "}", "error")
    elif how == "lookalike_id":
        message["articleId"] = draw(st.sampled_from(LOOKALIKE_IDS))
    elif how == "bad_page":
        message.pop("articleId", None)
        message["currentPage"] = draw(
            st.sampled_from(["/pages/aboutx", "/posts/x", "/p\u00e1ges/about", "/Pages/About", "http://[::1", ""])
        )
    elif how == "bad_view_id":
        message["viewId"] = draw(st.sampled_from(BAD_VIEW_IDS))
    return Frame(how, dumps(message), "error")


@st.composite
def oversize(draw: st.DrawFn) -> Frame:
    """Frames over the 32 KB limit (too_large) and over API Gateway's 128 KB (closed with 1009)."""
    size = draw(st.sampled_from([FRAME_LIMIT + 1, 50_000, MESSAGE_LIMIT - 100, MESSAGE_LIMIT + 1, 200_000]))
    message = draw(st.sampled_from([{"message": "views", "articleId": "fuzz-a"}, {"message": "stats"}]))
    text = dumps({**message, "articleTitle": ""})[:-2] + "x" * size + '"}'
    if draw(st.booleans()):
        text = text.replace('"x', '"\u00e9', 1)  # multi-byte: the limits are bytes, not characters
    expect: Expect = "close" if len(text.encode()) > MESSAGE_LIMIT else "error"
    return Frame("oversize", text, expect)


@st.composite
def stats_messages(draw: st.DrawFn) -> Frame:
    ids = st.lists(st.sampled_from([*ARTICLE_IDS, "never-viewed"]), max_size=100)
    if draw(st.integers(0, 3)) > 0:
        message: dict[str, Any] = {"message": "stats"}
        if draw(st.booleans()):
            message["articleIds"] = draw(ids)
        return Frame("stats", dumps(message), "stats")
    bad = draw(
        st.one_of(
            st.just({"message": "stats", "articleIds": ["fuzz-a"] * 101}),
            st.builds(lambda v: {"message": "stats", "articleIds": v}, json_leaf.filter(lambda v: v is not None)),
            st.builds(lambda i: {"message": "stats", "articleIds": [i]}, st.sampled_from(LOOKALIKE_IDS)),
            st.builds(
                lambda i: {"message": "stats", "articleIds": [i]},
                st.integers()
                | st.text(max_size=200).filter(
                    lambda s: (
                        s not in ARTICLE_IDS
                        and not (s and all(c.isascii() and (c.isalnum() or c in "._~:/-") for c in s) and len(s) <= 128)
                    )
                ),
            ),
            st.builds(
                lambda k, v: {"message": "stats", k: v},
                st.text(min_size=1, max_size=8).filter(lambda k: k not in ("message", "articleIds")),
                json_value,
            ),
        )
    )
    return Frame("stats_invalid", dumps(bad), "error")


@st.composite
def unknown_kinds(draw: st.DrawFn) -> Frame:
    kind = draw(
        st.one_of(
            st.text(max_size=20).filter(lambda k: k not in ("views", "stats")),
            st.integers(),
            st.none(),
            st.just("$default"),
            st.just("$connect"),
            st.just("Views"),
            st.just("views "),
        )
    )
    return Frame("unknown_kind", dumps({"message": kind, "articleId": "fuzz-a"}), "error")


def _not_an_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


@st.composite
def not_json(draw: st.DrawFn) -> Frame:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return Frame("binary", draw(st.binary(max_size=200)), "error")
    if choice == 1:
        return Frame("not_object", dumps(draw(json_value.filter(lambda v: not isinstance(v, dict)))), "error")
    text = draw(st.text(max_size=200).filter(_not_an_object))
    data = text.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return Frame("not_json", text.encode("utf-8", "replace").decode(), "error")
    return Frame("not_json", text, "error")


@st.composite
def anything_views(draw: st.DrawFn) -> Frame:
    """A views message of known fields with arbitrary JSON values: counted only if answered ok."""
    # No viewId: one drawn twice for two different views would make the expected counts ambiguous.
    names = [f for f in STRING_FIELDS if f != "viewId"] + ["refreshed"]
    fields = draw(st.dictionaries(st.sampled_from(names), json_value, max_size=4))
    return Frame("arbitrary", dumps({"message": "views", **fields}), "any")


@st.composite
def valid_frames(draw: st.DrawFn) -> Frame:
    view = draw(valid_views())
    return Frame("valid_view", json.dumps(view, ensure_ascii=draw(st.booleans())), "views_ok")


# (cumulative percentage, generator): the mix of one fuzzing run.
MIX = (
    (30, valid_frames()),
    (65, broken_views()),
    (68, oversize()),
    (80, stats_messages()),
    (85, unknown_kinds()),
    (92, not_json()),
    (100, anything_views()),
)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    which = draw(st.integers(0, 99))
    return draw(next(strategy for limit, strategy in MIX if which < limit))
