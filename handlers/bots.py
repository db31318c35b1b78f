"""Known crawlers by user agent, from the maintained list of the `crawler-user-agents` package.

The package (MIT, https://github.com/monperrus/crawler-user-agents, released from the
list's own repository whenever a pattern changes) is read as data: its JSON file,
located without running the package's `__init__`, which would decode the whole file and
compile every pattern at import. Of its ~1,500 patterns (case-sensitive regular expressions) about 95% are plain
text such as `Googlebot\\/`: those are kept as substrings and searched with `in`, and
only the rest are compiled, as one alternation, and only the patterns are decoded from
the JSON. That makes a cold start about 6 ms of CPU dearer rather than about 50 with the
package's own matcher (README, "Bots at the door"), and one check about 0.3 ms.

The user agent is only matched here: it is never stored, logged or passed on.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

PACKAGE = "crawleruseragents"
LIST_FILE = "crawler-user-agents.json"
MAX_USER_AGENT = 1024
"""Only this much of a user agent is matched: real ones are a few hundred characters, and
the cap bounds the work a hostile header can ask for."""
# Plain text: no special character unescaped, and no escape of a letter or digit (\d, \b
# and the like are classes or assertions, not the letter).
_PLAIN = re.compile(r"(?:[^\\.^$*+?{}\[\]|()]|\\[^A-Za-z0-9])+", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PATTERN_KEY = re.compile(rb'"pattern"\s*:\s*("(?:[^"\\]|\\.)*")')


class CrawlerList(NamedTuple):
    needles: tuple[str, ...]
    """Patterns that are plain text, as the text itself."""
    regex: re.Pattern[str] | None
    """Every other pattern, as one alternation (None if there are none)."""

    def matches(self, user_agent: str) -> bool:
        text = user_agent[:MAX_USER_AGENT]
        return any(needle in text for needle in self.needles) or bool(self.regex and self.regex.search(text))


def plain_text(pattern: str) -> str | None:
    """Pure: the text a regular expression matches when it is plain text (`Googlebot\\/` ->
    `Googlebot/`), or None when it has any special character or class (`\\d`, `[a-z]`, `^`)."""
    if not _PLAIN.fullmatch(pattern):
        return None
    # Without an escaped backslash every `\` escapes the next character: dropping them all is
    # the unescaping, and 5x cheaper than re.sub over 1,500 patterns in a cold start.
    return pattern.replace("\\", "") if "\\\\" not in pattern else _ESCAPE.sub(r"\1", pattern)


def crawler_list(patterns: list[str]) -> CrawlerList:
    """Pure: the patterns split into substrings and one compiled alternation."""
    needles = [plain_text(p) for p in patterns]
    rest = [p for p, needle in zip(patterns, needles, strict=True) if needle is None]
    return CrawlerList(
        needles=tuple(dict.fromkeys(n for n in needles if n is not None)),
        regex=re.compile("|".join(f"(?:{p})" for p in rest)) if rest else None,
    )


def list_path() -> Path:
    """The package's JSON file, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise RuntimeError(f"the {PACKAGE} package (crawler-user-agents) is not installed")
    return Path(locations[0]) / LIST_FILE


def list_patterns(path: Path) -> list[str]:
    """Every entry's `pattern`, read without decoding the rest of the file.

    Most of the file is example user agents; decoding only the patterns halves the
    cold start's cost. Inside a JSON string every `"` is escaped, so `"pattern":` followed
    by a string can only be a key and its value (tests/test_bots.py checks the result
    equals a full json.loads of the installed list).
    """
    values = _PATTERN_KEY.findall(path.read_bytes())  # bytes: no decoding of the whole file either
    return [str(pattern) for pattern in json.loads(b"[" + b",".join(values) + b"]")]


@cache
def known_crawlers() -> CrawlerList:
    """The list, read and compiled once per container."""
    return crawler_list(list_patterns(list_path()))


def is_known_crawler(user_agent: str | None) -> bool:
    """A missing or empty user agent counts as a crawler: every browser sends one."""
    if not user_agent or not user_agent.strip():
        return True
    return known_crawlers().matches(user_agent)
