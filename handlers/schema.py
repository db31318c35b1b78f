"""The one typed schema: client messages, the published event, and the replies.

Limits are part of the wire contract (README, "Wire protocol"). Every string is
checked for control characters and lone surrogates, which json.loads happily
produces from `\\u0000` or `\\ud800` escapes.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from handlers.api import ClientMistake, ErrorCode, WebSocketResponse, decode_object, respond
from handlers.wiring import EventType

MAX_ARTICLE_ID = 128
MAX_TITLE = 300
# Bytes as well as characters: 300 four-byte characters made a 100-article stats
# reply 139 KB, over API Gateway's 128 KB per message (tests/test_stats.py proves the
# worst case now fits).
MAX_TITLE_BYTES = 600
MAX_URL = 2048
MAX_ECHOED_FIELD = 64  # an unknown field's name is echoed in `detail`; a client chooses its length
MAX_STATS_IDS = 100
MAX_WATCHED = 50
"""Targets one `watch` may follow (articleIds and pages together)."""
MAX_PAGE_NAME = 64
ARTICLE_ID_PATTERN = r"^[A-Za-z0-9._~:/-]+$"
MIN_VIEW_ID = 16
MAX_VIEW_ID = 64
VIEW_ID_CHARACTERS = re.compile(r"[A-Za-z0-9_-]*")


def reject_unsafe_characters(value: str) -> str:
    """Control characters (C0, DEL, C1) and lone surrogates are never valid text here."""
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError("contains a lone surrogate")
        if unicodedata.category(char) == "Cc":
            raise ValueError("contains a control character")
    return value


def reject_long_titles(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TITLE_BYTES:
        raise ValueError(f"at most {MAX_TITLE_BYTES} bytes of UTF-8")
    return value


def reject_format_characters(value: str) -> str:
    """Format characters (Unicode category Cf: bidi overrides such as U+202E, zero-width
    joiners and spaces, soft hyphens) are invisible, so a title carrying them can show
    other text than it holds, or reorder the text around it where it is displayed."""
    for char in value:
        if unicodedata.category(char) == "Cf":
            raise ValueError(f"contains an invisible format character (U+{ord(char):04X})")
    return value


def fit_title(value: str) -> str:
    """A title cut to the limits, for replies: rows stored before the byte limit may be longer."""
    return value[:MAX_TITLE].encode("utf-8", "surrogatepass")[:MAX_TITLE_BYTES].decode("utf-8", "ignore")


def check_view_id(value: str) -> str:
    """16-64 characters of A-Z a-z 0-9 _ - (what 12-48 random bytes give in base64url)."""
    if not MIN_VIEW_ID <= len(value) <= MAX_VIEW_ID:
        raise ValueError(f"{MIN_VIEW_ID} to {MAX_VIEW_ID} characters")
    if not VIEW_ID_CHARACTERS.fullmatch(value):
        raise ValueError("only letters, digits, _ and - are allowed")
    return value


ArticleId = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ARTICLE_ID, pattern=ARTICLE_ID_PATTERN)]
# TitleText is what an event already queued may hold; Title is what a client may send now
# (events queued before a limit tightened must still count, not dead-letter).
TitleText = Annotated[StrictStr, Field(max_length=MAX_TITLE), AfterValidator(reject_unsafe_characters)]
Title = Annotated[TitleText, AfterValidator(reject_format_characters), AfterValidator(reject_long_titles)]
UrlText = Annotated[StrictStr, Field(max_length=MAX_URL), AfterValidator(reject_unsafe_characters)]
ViewId = Annotated[StrictStr, AfterValidator(check_view_id)]
ArticleSig = Annotated[StrictStr, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
"""HMAC-SHA256 of the post's id and title, 64 lower-case hex digits (handlers/signing.py)."""


class _Strict(BaseModel):
    # Unknown fields are refused rather than ignored: a typo such as `articleID`
    # would otherwise silently count a post view as an unknown page.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Message(_Strict):
    """A client message: each subclass is one route (tests/test_wiring.py checks the routes)."""


class ViewMessage(_Message):
    """`views` from the client; every field but `message` is optional."""

    message: Literal["views"]
    articleId: ArticleId | None = None
    articleTitle: Title | None = None
    previousPage: UrlText | None = None
    currentPage: UrlText | None = None
    refreshed: StrictBool = False
    referrer: UrlText | None = None
    viewId: ViewId | None = None
    """Random per view, made by the client; the same view resent keeps it (counted once)."""
    articleSig: ArticleSig | None = None
    """The blog's signature of articleId and articleTitle (`data-article-sig`); required for
    post views on a stack that signs posts, ignored on others."""


class StatsMessage(_Message):
    """`stats` from the client: listed articles, or with none the top posts."""

    message: Literal["stats"]
    articleIds: Annotated[list[ArticleId], Field(max_length=MAX_STATS_IDS)] | None = None


PageName = Annotated[StrictStr, Field(min_length=1, max_length=MAX_PAGE_NAME), AfterValidator(reject_unsafe_characters)]


class ReadingTarget(_Strict):
    """The one post or page a connection reads (its target), named as a view or watch names it."""

    articleId: ArticleId | None = None
    page: PageName | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadingTarget:
        if (self.articleId is None) == (self.page is None):
            raise ValueError("exactly one of articleId and page")
        return self

    @property
    def target(self) -> str:
        """As schema.ViewEvent.target spells it."""
        return f"post:{self.articleId}" if self.articleId is not None else f"page:{self.page}"


class WatchMessage(_Message):
    """`watch` from the client: follow these targets' live counts, without counting a view."""

    message: Literal["watch"]
    articleIds: Annotated[list[ArticleId], Field(max_length=MAX_WATCHED)] = []
    pages: Annotated[list[PageName], Field(max_length=MAX_WATCHED)] = []
    reading: ReadingTarget | None = None
    """Makes this the connection's target (in its readingNow) without counting a view: a
    reopened socket's way back into readingNow."""

    @model_validator(mode="after")
    def _at_most_50(self) -> WatchMessage:
        if len(self.articleIds) + len(self.pages) > MAX_WATCHED:
            raise ValueError(f"at most {MAX_WATCHED} articleIds and pages together")
        return self

    @property
    def targets(self) -> list[str]:
        """Each once, as schema.ViewEvent.target spells them."""
        posts = [f"post:{a}" for a in self.articleIds]
        return list(dict.fromkeys(posts + [f"page:{p}" for p in self.pages]))


class ViewEvent(BaseModel):
    """The event published to SNS and read by the counters. Made by the server only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eventId: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    """`v:<viewId>` when the view carried one, else API Gateway's requestContext.messageId
    (unique per received message). See views.event_id."""
    eventType: EventType
    receivedAt: Annotated[int, Field(strict=True, ge=0)]
    """When API Gateway received the view (requestContext.requestTimeEpoch, ms)."""
    unique: StrictBool
    articleId: ArticleId | None = None
    articleTitle: TitleText | None = None
    """Without the byte limit, which is the client's: an event queued before it must still count."""
    page: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    referrer: UrlText | None = None
    """Already reduced to its origin (scheme://host[:port]) and known to be external."""
    titleSigned: Literal[True] | None = None
    """The title was signed by the blog (handlers/signing.py): it replaces the stored one."""

    @property
    def target(self) -> str:
        """What was viewed, as stored beside a referrer: `post:<id>` or `page:<name>`."""
        return f"post:{self.articleId}" if self.articleId is not None else f"page:{self.page}"


# ---- replies -------------------------------------------------------------------------


class ErrorReply(BaseModel):
    message: Literal["error"] = "error"
    error: ErrorCode
    detail: str | None = None


class PostCounts(BaseModel):
    articleId: str
    articleTitle: Annotated[str, AfterValidator(fit_title)]
    """Bounded here, so that every reply carrying titles fits API Gateway's 128 KB."""
    totalViews: int
    uniqueViews: int


class PageCounts(BaseModel):
    page: str
    totalViews: int
    uniqueViews: int


class _ViewOk(BaseModel):
    # Declared first so the reply reads {"message": "views", "status": "ok", ...}.
    message: Literal["views"] = "views"
    status: Literal["ok"] = "ok"


class PostViewReply(PostCounts, _ViewOk):
    readingNow: int | None = None
    """Open connections whose target this post is, the replying one included."""


class PageViewReply(PageCounts, _ViewOk):
    readingNow: int | None = None


class LivePostCounts(PostCounts):
    readingNow: int | None = None
    """None (left out) when the stack's live counts are off."""


class LivePageCounts(PageCounts):
    readingNow: int | None = None


class WatchReply(BaseModel):
    message: Literal["watch"] = "watch"
    status: Literal["ok"] = "ok"
    articles: list[LivePostCounts]
    pages: list[LivePageCounts]


class _Push(BaseModel):
    message: Literal["counts"] = "counts"


class PostCountsPush(LivePostCounts, _Push):
    """Pushed to the followers of a post (@connections), never a route response."""


class PageCountsPush(LivePageCounts, _Push):
    pass


class StatsReply(BaseModel):
    message: Literal["stats"] = "stats"
    articles: list[PostCounts]
    pages: list[PageCounts]


Reply = ErrorReply | PostViewReply | PageViewReply | StatsReply | WatchReply


def dump_reply(reply: Reply) -> str:
    return reply.model_dump_json(exclude_none=True)


def reply_response(reply: Reply) -> WebSocketResponse:
    return respond(dump_reply(reply))


# ---- validation errors as one readable line -----------------------------------------

_MESSAGES = {
    "string_too_long": "at most {max_length} characters",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "only letters, digits and . _ ~ : / - are allowed",
    "string_type": "must be a string",
    "string_unicode": "contains a lone surrogate",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "too_long": "at most {max_length} items",
    "extra_forbidden": "unknown field",
    "missing": "required",
    "literal_error": "must be {expected}",
    "model_type": "must be an object",
}
_SIG_RULE = "must be 64 lower-case hex digits"
_MESSAGES_BY_FIELD = {
    ("articleSig", "string_pattern_mismatch"): _SIG_RULE,
    ("articleSig", "string_too_short"): _SIG_RULE,
    ("articleSig", "string_too_long"): _SIG_RULE,
}


def describe(error: dict[str, Any]) -> str:
    """`articleId: at most 128 characters` from one pydantic error."""
    where = ".".join(str(part) for part in error["loc"]) or "message"
    if len(where) > MAX_ECHOED_FIELD:
        where = where[: MAX_ECHOED_FIELD - 1] + "\u2026"
    template = _MESSAGES_BY_FIELD.get((where, error["type"])) or _MESSAGES.get(error["type"])
    if template is None:
        text = str(error["msg"]).removeprefix("Value error, ")
    else:
        text = template.format(**error.get("ctx", {}))
    return f"{where}: {text}"


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem only: enough to fix the client, and bounded in size."""
    return describe(dict(exc.errors(include_url=False)[0]))


M = TypeVar("M", bound=BaseModel)


def parse_message(model: type[M], body: str) -> M:
    """A client frame -> typed message, or ClientMistake naming the first bad field."""
    data = decode_object(body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ClientMistake("invalid_event", describe_validation_error(exc)) from None
