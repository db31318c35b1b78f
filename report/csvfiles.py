"""`--csv DIR`: the JSON document as five flat tables, and back.

refused.csv holds per reason a total row (`start` empty) then its buckets; when the
refusals could not be read it holds one row with only `error`, so a spreadsheet says so
instead of showing nothing.

Cells that a spreadsheet would run as a formula (a title is whatever a client sent) are
prefixed with `'`; reading takes it off again, so the files round-trip exactly.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FILES = {
    "posts.csv": ("articleId", "articleTitle", "totalViews", "uniqueViews"),
    "pages.csv": ("page", "totalViews", "uniqueViews"),
    "series.csv": ("kind", "id", "start", "totalViews", "uniqueViews"),
    "referrers.csv": ("referrer", "kind", "id", "views"),
    "refused.csv": ("reason", "group", "start", "count", "error"),
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBERS = {"totalViews", "uniqueViews", "views", "count"}


def escape(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def unescape(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def rows(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Pure: the document's rows per file, in the document's order."""
    series = [{"kind": "post", "id": p["articleId"], **point} for p in document["posts"] for point in p["series"]] + [
        {"kind": "page", "id": p["page"], **point} for p in document["pages"] for point in p["series"]
    ]
    return {
        "posts.csv": [{k: p[k] for k in FILES["posts.csv"]} for p in document["posts"]],
        "pages.csv": [{k: p[k] for k in FILES["pages.csv"]} for p in document["pages"]],
        "series.csv": series,
        "referrers.csv": [
            {
                "referrer": r["referrer"],
                "kind": "post" if "articleId" in t else "page",
                "id": t.get("articleId", t.get("page")),
                "views": t["views"],
            }
            for r in document["referrers"]
            for t in r["targets"]
        ],
        "refused.csv": refused_rows(document["refused"]),
    }


def refused_rows(refused: dict[str, Any]) -> list[dict[str, Any]]:
    if refused["error"] is not None:
        return [{"error": refused["error"]}]
    return [
        row
        for r in refused["reasons"]
        for row in (
            {"reason": r["reason"], "group": r["group"], "start": "", "count": r["count"]},
            *({"reason": r["reason"], "group": r["group"], **point} for point in r["series"]),
        )
    ]


def read_refused(table: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The document's `refused` member but `keptFrom` (a fact of the day it was read, like `until`)."""
    reasons: dict[str, dict[str, Any]] = {}
    for row in table:
        if row["error"]:
            return {"error": row["error"], "reasons": []}
        if not row["start"]:
            reasons[row["reason"]] = {**{k: row[k] for k in ("reason", "group", "count")}, "series": []}
        else:
            reasons[row["reason"]]["series"].append({"start": row["start"], "count": row["count"]})
    return {"error": None, "reasons": list(reasons.values())}


def write_csv(directory: Path, document: dict[str, Any]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in rows(document).items():
        path = directory / name
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=FILES[name], lineterminator="\n")
            writer.writeheader()
            for row in table:
                writer.writerow({k: v if isinstance(v, int) else escape(str(v)) for k, v in row.items()})
        written.append(path)
    return written


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            yield {k: int(v) if k in _NUMBERS and v != "" else unescape(v) for k, v in row.items()}


def _points(series: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each post's and page's points, by (kind, id), in file order."""
    points: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in series:
        points[s["kind"], s["id"]].append({k: s[k] for k in ("start", "totalViews", "uniqueViews")})
    return points


def read_csv(directory: Path) -> dict[str, Any]:
    """The posts, pages and referrers of a document, from the files write_csv made."""
    series = _points(_read(directory / "series.csv"))
    posts = [{**p, "series": series.get(("post", p["articleId"]), [])} for p in _read(directory / "posts.csv")]
    pages = [{**p, "series": series.get(("page", p["page"]), [])} for p in _read(directory / "pages.csv")]
    referrers: dict[str, dict[str, Any]] = {}
    for row in _read(directory / "referrers.csv"):
        entry = referrers.setdefault(row["referrer"], {"referrer": row["referrer"], "views": 0, "targets": []})
        entry["views"] += row["views"]
        key = "articleId" if row["kind"] == "post" else "page"
        entry["targets"].append({key: row["id"], "views": row["views"]})
    refused = read_refused(_read(directory / "refused.csv"))
    return {"posts": posts, "pages": pages, "referrers": list(referrers.values()), "refused": refused}
