"""`python -m report set-title` on moto: the title reaches writer, reader and top, and stays."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from support.aws import STACK, Cloud
from support.events import post_item, stream_record
from support.report_data import stack_root

from handlers import replicate, top_posts
from handlers.attributes import text
from handlers.top_posts import Ranked
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS
from report.cli import main
from report.titles import retitled


def set_title(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["set-title", *argv, "--stack", STACK], out, err, date(2026, 11, 30), root)
    return code, out.getvalue(), err.getvalue()


def titles(cloud: Cloud, article_id: str) -> tuple[str, str, list[str]]:
    top = top_posts.read_top(cloud.ddb, cloud.table(TOP_POSTS))
    return (
        text(cloud.item(POST_COUNT_WRITER, articleId=article_id), "articleTitle"),
        text(cloud.item(POST_COUNT_READER, articleId=article_id), "articleTitle"),
        [p.title for p in top.posts if p.article_id == article_id],
    )


def replicate_images(*images: dict[str, object]) -> None:
    """What replicate does with writer images delivered (late) by the stream."""
    event = {"Records": [stream_record(dict(image), str(100 + n)) for n, image in enumerate(images)]}
    assert replicate.handler(event, None) == {"batchItemFailures": []}


@pytest.fixture
def root(cloud: Cloud, tmp_path: Path) -> Path:
    cloud.put(POST_COUNT_WRITER, post_item("hello-world", 12, 9, "Helo Wrld"))
    replicate_images(post_item("hello-world", 12, 9, "Helo Wrld"))
    return stack_root(tmp_path)


def test_set_title_reaches_writer_reader_and_top(cloud: Cloud, root: Path) -> None:
    code, out, err = set_title(root, "hello-world", "Hello World")
    assert (code, err) == (0, "")
    assert "writer, reader and top posts" in out
    assert titles(cloud, "hello-world") == ("Hello World", "Hello World", ["Hello World"])


def test_set_title_stale_replicate_writes_cannot_bring_the_old_title_back(cloud: Cloud, root: Path) -> None:
    # Reader and top hold an older image (10 views) than the writer (12) when the title changes.
    cloud.put(POST_COUNT_READER, post_item("hello-world", 10, 8, "Helo Wrld"))
    table = cloud.table(TOP_POSTS)
    top = top_posts.read_top(cloud.ddb, table)
    assert top_posts.put_top(
        cloud.ddb, table, top_posts.Top(top.version + 1, (Ranked("hello-world", "Helo Wrld", 10, 8),)), top.version
    )
    assert set_title(root, "hello-world", "Hello World")[0] == 0
    # Images still in the stream from before the rename: old title, at most the writer's 12 views.
    replicate_images(post_item("hello-world", 11, 8, "Helo Wrld"), post_item("hello-world", 12, 9, "Helo Wrld"))
    assert titles(cloud, "hello-world") == ("Hello World", "Hello World", ["Hello World"])
    # The next view's image carries the new title and more views, and is copied as usual.
    replicate_images(post_item("hello-world", 13, 10, "Hello World"))
    assert cloud.item(POST_COUNT_READER, articleId="hello-world")["totalViews"] == {"N": "13"}


def test_set_title_unknown_post_changes_nothing(cloud: Cloud, root: Path) -> None:
    code, out, err = set_title(root, "no-such-post", "Title")
    assert (code, out) == (1, "")
    assert "no post 'no-such-post'" in err
    assert cloud.item(POST_COUNT_WRITER, articleId="no-such-post") == {}
    assert cloud.item(POST_COUNT_READER, articleId="no-such-post") == {}


@pytest.mark.parametrize(
    ("article_id", "title", "problem"),
    [
        ("hello-world", "Evil \u202etxt.exe", "invisible format character"),
        ("hello-world", "a\x00b", "control character"),
        ("hello-world", "é" * 301, "at most 300 characters"),
        ("hello-world", "\U0001f600" * 151, "at most 600 bytes"),
        ("hello-world", "   ", "must not be empty"),
        ("hello world", "Title", "ARTICLE_ID: only letters"),
        ("x" * 129, "Title", "ARTICLE_ID: at most 128 characters"),
    ],
)
def test_set_title_refuses_what_the_schema_refuses(
    cloud: Cloud, root: Path, article_id: str, title: str, problem: str
) -> None:
    code, out, err = set_title(root, article_id, title)
    assert (code, out) == (2, "")
    assert problem in err
    assert titles(cloud, "hello-world") == ("Helo Wrld", "Helo Wrld", ["Helo Wrld"])


def test_retitled_replaces_only_an_entry_with_no_more_views() -> None:
    held = (Ranked("a", "Old", 10, 5), Ranked("b", "B", 7, 7))
    assert retitled(held, Ranked("a", "New", 10, 5))[0].title == "New"
    assert retitled(held, Ranked("a", "New", 9, 5))[0].title == "Old"  # the top holds a newer image
    assert [p.article_id for p in retitled(held, Ranked("c", "C", 8, 1))] == ["a", "c", "b"]
