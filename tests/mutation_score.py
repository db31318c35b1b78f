"""`make mutation`: mutation-test the counting core one module at a time and print the
score per module.

Each module of `[tool.mutmut] only_mutate` (pyproject.toml) gets its own `mutmut run`,
so a run can be stopped and resumed per module and never loads more than one worker
(`--max-children`, 1 by default: mutation runs are CPU-heavy). The score counts a
mutant as caught when a test failed on it or it timed out (an endless loop the tests
noticed); survivors named in tests/MUTATION.md are the ones argued there to be
equivalent. Run from the repository root:

    python tests/mutation_score.py [--max-children N] [--tests GLOB ...] [--report-only] [handlers/ledger.py ...]

`--tests` (the Makefile's MUTATION_TESTS) narrows the test files of that run, e.g.
`--tests 'tests/test_replicate*.py' tests/test_top_posts.py`: every other `tests/test_*.py`
is ignored through PYTEST_ADDOPTS. Without it a module listed in NARROWED gets its own
files, any other the whole `[tool.mutmut]` selection. mutmut keeps a verdict already
recorded for another module, and collects the coverage of the files it has not seen.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE = ROOT / "tests" / "MUTATION.md"
CAUGHT = {"killed", "timeout", "caught by type check"}
RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")
# handlers.ledger.x_aggregate__mutmut_3, handlers.ledger.xǁKeyWriteǁmessage_ids__mutmut_1
MODULE_OF = re.compile(r"^(?P<module>.+?)\.xǁ?[^.]*__mutmut_\d+$")
# The test files that exercise a module, for modules whose mutants would otherwise run the
# moto suites of every caller (minutes per mutant on a shared 2-core machine). A test
# outside these files that calls the module only through another handler is not needed to
# kill its mutants: the scores in tests/MUTATION.md were measured with these selections.
NARROWED: dict[str, tuple[str, ...]] = {
    "handlers/replicate.py": ("tests/test_replicate*.py", "tests/test_top_posts*.py"),
    "handlers/top_posts.py": ("tests/test_top_posts*.py", "tests/test_stats.py"),
    "handlers/repair.py": ("tests/test_repair*.py",),
    "handlers/origins.py": ("tests/test_origins*.py", "tests/test_properties.py"),
    "handlers/ledger.py": ("tests/test_ledger*.py", "tests/test_counter*.py"),
    "handlers/api.py": ("tests/test_api*.py", "tests/test_connect_default.py"),
    "handlers/connections.py": ("tests/test_connections*.py", "tests/test_views_budget.py"),
    "handlers/watch.py": ("tests/test_watch*.py",),
    "handlers/series.py": ("tests/test_series*.py",),
    "handlers/live.py": ("tests/test_live*.py",),
}


@dataclass
class Score:
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: dict[str, str] = field(default_factory=dict)
    """Name -> status of every mutant not caught (survived, no tests, not checked...)."""
    seconds: float | None = None

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def caught(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in CAUGHT)


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def mutmut(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # `mutmut`, not `python -m mutmut`: mutmut warns that re-executing its __main__ breaks its fork setup.
    command = [str(Path(sys.executable).parent / "mutmut"), *args]
    return subprocess.run(command, cwd=ROOT, text=True, capture_output=True, check=False, env=env)


def ignoring_all_but(patterns: tuple[str, ...]) -> str:
    """PYTEST_ADDOPTS that leave only the test files matching `patterns` to collect."""
    kept = {path for pattern in patterns for path in ROOT.glob(pattern)}
    if not kept:
        raise SystemExit(f"no test file matches {' '.join(patterns)}")
    others = sorted(path for path in (ROOT / "tests").glob("test_*.py") if path not in kept)
    return " ".join(f"--ignore={path.relative_to(ROOT)}" for path in others)


def run_module(path: str, max_children: int, tests: tuple[str, ...]) -> float:
    start = time.monotonic()
    env = dict(os.environ)
    if tests:
        env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} {ignoring_all_but(tests)}".strip()
        print(f"  tests: {' '.join(tests)}", flush=True)
    done = mutmut("run", "--max-children", str(max_children), f"{dotted(path)}.*", env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut run failed for {path} (exit {done.returncode})")
    return time.monotonic() - start


def scores() -> dict[str, Score]:
    done = mutmut("results", "--all", "true")
    by_module: dict[str, Score] = {}
    for line in done.stdout.splitlines():
        match = RESULT_LINE.match(line)
        module = MODULE_OF.match(match["name"]) if match else None
        if match is None or module is None:
            continue
        score = by_module.setdefault(module["module"], Score())
        score.statuses[match["status"]] += 1
        if match["status"] not in CAUGHT:
            score.survivors[match["name"]] = match["status"]
    return by_module


def explained() -> set[str]:
    """The mutant names under the note's "Equivalent survivors" heading."""
    text = NOTE.read_text().partition("## Equivalent survivors")[2] if NOTE.exists() else ""
    return set(re.findall(r"`(handlers\.[^`\s]+__mutmut_\d+)`", text))


def report(paths: list[str], found: dict[str, Score], seconds: dict[str, float]) -> None:
    listed = explained()
    print(f"{'module':<22} {'caught':>7} {'total':>6} {'score':>6} {'equiv.':>6} {'open':>5} {'run':>7}")
    for path in paths:
        score = found.get(dotted(path))
        if score is None or score.total == 0:
            print(f"{dotted(path):<22} not run")
            continue
        equivalent = [s for s in score.survivors if s in listed]
        unexplained = [s for s in score.survivors if s not in listed]
        took = f"{seconds[path]:.0f}s" if path in seconds else "-"
        print(
            f"{dotted(path):<22} {score.caught:>7} {score.total:>6} {score.caught / score.total:>6.1%} "
            f"{len(equivalent):>6} {len(unexplained):>5} {took:>7}"
        )
        for name in unexplained:
            print(f"    not explained: {name} ({score.survivors[name]})")
    if seconds:
        print(f"total run time: {sum(seconds.values()) / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="modules to run (default: every module of only_mutate)")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--tests", nargs="+", default=[], help="test file globs for this run (default: NARROWED)")
    parser.add_argument("--report-only", action="store_true", help="print the stored results, run nothing")
    args = parser.parse_args()
    paths = args.paths or modules()
    seconds: dict[str, float] = {}
    if not args.report_only:
        for path in paths:
            print(f"mutating {path} ...", flush=True)
            tests = tuple(args.tests) or NARROWED.get(path, ())
            seconds[path] = run_module(path, args.max_children, tests)
    report(paths, scores(), seconds)


if __name__ == "__main__":
    main()
