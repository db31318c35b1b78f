"""DynamoDB attribute values read as plain Python values (pure, no pydantic)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Item = Mapping[str, Mapping[str, Any]]


def number(item: Item, name: str) -> int:
    value = item.get(name, {}).get("N")
    return int(value) if value is not None else 0


def text(item: Item, name: str) -> str:
    return str(item.get(name, {}).get("S", ""))
