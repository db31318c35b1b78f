"""Client size: client/analytics.js minified with terser, then gzipped (level 9)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "client" / "analytics.js"
GOAL_BYTES = 1700  # 1.7 KB: resending with a viewId (exactly once from the browser) took ~100 B
TERSER = ("npx", "--yes", "terser@5")
TERSER_OPTIONS = ("--compress", "--mangle")  # after the file: -m would take it as its options


@dataclass(frozen=True)
class ClientSize:
    raw: int
    raw_gzip: int
    minified: int | None
    min_gzip: int | None
    note: str = ""


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def minify(source: Path) -> tuple[bytes | None, str]:
    if shutil.which("npx") is None:
        return None, "npx not found: raw + gzip only"
    try:
        done = subprocess.run([*TERSER, str(source), *TERSER_OPTIONS], capture_output=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        return None, "terser timed out: raw + gzip only"
    if done.returncode != 0 or not done.stdout:
        return None, f"terser failed ({done.stderr.decode(errors='replace').strip()[-120:]}): raw + gzip only"
    return done.stdout, "terser 5 --compress --mangle, then gzip -9"


def measure(source: Path = CLIENT) -> ClientSize | None:
    """None when the client does not exist yet."""
    if not source.is_file():
        return None
    data = source.read_bytes()
    minified, note = minify(source)
    return ClientSize(
        raw=len(data),
        raw_gzip=gzip_size(data),
        minified=len(minified) if minified is not None else None,
        min_gzip=gzip_size(minified) if minified is not None else None,
        note=note,
    )
