"""`python -m report` on moto: the documented JSON, CSV, the summary, and bad arguments."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs; a test-only dependency (check-jsonschema's)
import pytest
from support.aws import REGION, STACK, Cloud
from support.events import post_item
from support.report_data import fill_example, stack_root, without_series

from handlers.filtered import REASONS
from handlers.wiring import POST_COUNT_READER, SERIES
from report import csvfiles, store
from report.cli import main
from report.settings import StackSettings
from report.store import Progress

TODAY = date(2026, 11, 30)

_COUNTS = {"totalViews": {"type": "integer", "minimum": 0}, "uniqueViews": {"type": "integer", "minimum": 0}}
_SERIES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"start": {"type": "string"}, **_COUNTS},
        "required": ["start", "totalViews", "uniqueViews"],
        "additionalProperties": False,
    },
}
_DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_REFUSED = {
    "type": "object",
    "required": ["error", "keptFrom", "reasons"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": ["string", "null"]},
        "keptFrom": {"oneOf": [_DAY, {"type": "null"}]},
        "reasons": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["reason", "group", "count", "series"],
                "additionalProperties": False,
                "properties": {
                    "reason": {"enum": list(REASONS)},
                    "group": {"enum": ["connections", "views", "referrers"]},
                    "count": {"type": "integer", "minimum": 0},
                    "series": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["start", "count"],
                            "additionalProperties": False,
                            "properties": {"start": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
                        },
                    },
                },
            },
        },
    },
}
# ARCHITECTURE.md 3.5 (and `refused`, README "Seeing your numbers"), field for field: nothing missing, nothing added.
CONTRACT = {
    "type": "object",
    "required": ["stack", "since", "until", "by", "posts", "pages", "referrers", "refused"],
    "additionalProperties": False,
    "properties": {
        "stack": {"type": "string"},
        "since": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "until": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "by": {"enum": ["day", "hour"]},
        "posts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["articleId", "articleTitle", "totalViews", "uniqueViews", "series"],
                "additionalProperties": False,
                "properties": {
                    "articleId": {"type": "string"},
                    "articleTitle": {"type": "string"},
                    **_COUNTS,
                    "series": _SERIES,
                },
            },
        },
        "pages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["page", "totalViews", "uniqueViews", "series"],
                "additionalProperties": False,
                "properties": {"page": {"type": "string"}, **_COUNTS, "series": _SERIES},
            },
        },
        "referrers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["referrer", "views", "targets"],
                "additionalProperties": False,
                "properties": {
                    "referrer": {"type": "string"},
                    "views": {"type": "integer"},
                    "targets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "oneOf": [{"required": ["articleId"]}, {"required": ["page"]}],
                            "properties": {
                                "articleId": {"type": "string"},
                                "page": {"type": "string"},
                                "views": {"type": "integer"},
                            },
                            "required": ["views"],
                            "additionalProperties": False,
                        },
                    },
                },
            },
        },
        "refused": _REFUSED,
    },
}


def run(root: Path, *argv: str, today: date = TODAY) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--stack", STACK, *argv], out, err, today, root)
    return code, out.getvalue(), err.getvalue()


def report_json(root: Path, *argv: str) -> dict[str, Any]:
    code, out, err = run(root, "--json", *argv)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


@pytest.fixture
def example(cloud: Cloud, tmp_path: Path) -> Path:
    fill_example(cloud)
    return stack_root(tmp_path)


def test_report_json_matches_the_contract(example: Path) -> None:
    document = report_json(example)
    jsonschema.validate(document, CONTRACT)
    assert (document["stack"], document["since"], document["until"], document["by"]) == (
        STACK,
        "2026-11-01",
        "2026-11-30",
        "day",
    )


def test_report_counts_the_views_the_snapshots_imply(example: Path) -> None:
    document = report_json(example)
    # hello-world: 22/15 at the period's last snapshot, 10/8 just before it.
    assert document["posts"] == [
        {
            "articleId": "hello-world",
            "articleTitle": "Hello World",
            "totalViews": 12,
            "uniqueViews": 7,
            "series": [
                {"start": "2026-11-05", "totalViews": 5, "uniqueViews": 3},
                {"start": "2026-11-29", "totalViews": 7, "uniqueViews": 4},
            ],
        },
        {"articleId": "quiet", "articleTitle": "Quiet", "totalViews": 0, "uniqueViews": 0, "series": []},
    ]
    assert document["pages"] == [
        {
            "page": "Home_Page",
            "totalViews": 40,
            "uniqueViews": 31,
            "series": [{"start": "2026-11-10", "totalViews": 40, "uniqueViews": 31}],
        }
    ]
    # HN's hello-world row stood at 3 before the period; quiet.example referred nothing in it.
    assert document["referrers"] == [
        {
            "referrer": "https://news.ycombinator.com",
            "views": 4,
            "targets": [{"page": "Home_Page", "views": 2}, {"articleId": "hello-world", "views": 2}],
        }
    ]


def test_report_by_hour_and_a_period_of_one_day(example: Path) -> None:
    document = report_json(example, "--since", "2026-11-05", "--until", "2026-11-05", "--by", "hour")
    hello = document["posts"][0]
    assert hello["series"] == [
        {"start": "2026-11-05T09:00Z", "totalViews": 3, "uniqueViews": 2},
        {"start": "2026-11-05T10:00Z", "totalViews": 2, "uniqueViews": 1},
    ]
    assert document["pages"][0]["totalViews"] == 0


def test_report_until_later_includes_the_next_month(example: Path) -> None:
    document = report_json(example, "--since", "2026-11-01", "--until", "2026-12-31")
    assert document["posts"][0]["totalViews"] == 30 - 10


def test_report_csv_round_trips(example: Path, tmp_path: Path) -> None:
    document = report_json(example)
    code, out, err = run(example, "--csv", str(tmp_path / "out"))
    assert code == 0, err
    assert out == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(csvfiles.FILES)
    refused = {k: v for k, v in document["refused"].items() if k != "keptFrom"}  # like `until`, not in the CSV
    assert csvfiles.read_csv(tmp_path / "out") == {
        **{k: document[k] for k in ("posts", "pages", "referrers")},
        "refused": refused,
    }


def test_report_csv_keeps_formulas_inert_and_round_trips_them(tmp_path: Path) -> None:
    document = {
        "posts": [
            {
                "articleId": "-x",
                "articleTitle": '=HYPERLINK("http://evil")',
                "totalViews": 1,
                "uniqueViews": 1,
                "series": [],
            }
        ],
        "pages": [],
        "referrers": [],
        "refused": {"error": "=1+1 is not an answer", "reasons": []},
    }
    csvfiles.write_csv(tmp_path, document)
    assert "'=HYPERLINK" in (tmp_path / "posts.csv").read_text()
    assert csvfiles.read_csv(tmp_path) == document


def test_report_summary_lists_top_posts_pages_and_referrers(example: Path) -> None:
    code, out, _ = run(example)
    assert code == 0
    assert "2026-11-01 to 2026-11-30" in out
    hello = next(line for line in out.splitlines() if line.startswith("Hello World (hello-world)"))
    assert hello.split()[3:5] == ["12", "7"]
    assert any(line.startswith("https://news.ycombinator.com") and " 4 " in line for line in out.splitlines())
    assert "Home_Page" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--since", "2026-11-30", "--until", "2026-11-01"],
        ["--since", "yesterday"],
        ["--by", "week"],
        ["--stack", "../etc"],
        ["--stack", "nosuchstack"],
        ["--unknown"],
    ],
)
def test_report_bad_arguments_exit_2_with_one_line(tmp_path: Path, argv: list[str]) -> None:
    code, out, err = run(stack_root(tmp_path), *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("report: ") and err.count("\n") == 1


def test_report_without_a_stack_exits_2(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main([], out, err, TODAY, stack_root(tmp_path)) == 2
    assert "--stack" in err.getvalue()


def test_report_missing_tables_exit_1_naming_the_stack(cloud: Cloud, tmp_path: Path) -> None:
    without_series(cloud)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 1, 1, "Hello World"))
    code, out, err = run(stack_root(tmp_path))  # the count tables exist, Series does not
    assert code == 1
    assert out == ""
    assert f"stack {STACK!r}" in err


def test_report_query_answers_equal_botocores_parse(cloud: Cloud) -> None:
    fill_example(cloud)
    settings = StackSettings(STACK, REGION)
    request = {
        "TableName": f"{STACK}-{SERIES}",
        "KeyConditionExpression": "seriesKey = :k",
        "ExpressionAttributeValues": {":k": {"S": "post#hello-world"}},
        "Limit": 3,
    }
    plain = store.client(settings).query(**request)
    parsed = cloud.ddb.query(**request)  # a client without the hook
    for answer in (plain, parsed):
        answer.pop("ResponseMetadata")
    assert plain == parsed
    assert plain["LastEvaluatedKey"]["bucket"] == {"S": "2026-11-05T09"}


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_quiet_when_reading_is_quick_and_shown_when_it_is_not() -> None:
    out, clock = io.StringIO(), _Clock()
    progress = Progress(3, out, clock)
    progress.step()
    assert out.getvalue() == ""
    clock.now = 2.0
    progress.step()
    clock.now = 2.1
    progress.step()
    progress.finish()
    assert out.getvalue() == "\rreport: read 2/3 series\n\rreport: read 3/3 series\n"
