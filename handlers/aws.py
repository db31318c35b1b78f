"""boto3 clients, created once per container on first use.

Created lazily rather than at import so tests can start moto first; the endpoint
comes from the settings (the local stack sets AWS_ENDPOINT_URL, AWS never does).
Timeouts are short and retries bounded: a view is answered `unavailable` rather
than left hanging past the API Gateway integration timeout (29 s).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from handlers.settings import load_settings

_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, endpoint_url=load_settings().endpoint_url, config=_CONFIG)


def reset() -> None:
    """Forget cached clients and settings (tests and the local stack's restarts)."""
    client.cache_clear()
    load_settings.cache_clear()
