"""The first client freezes what the imports made, once per process (aws.freeze_init_heap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
import gc, json
from handlers import aws
before = gc.get_freeze_count()
aws.client("dynamodb")
first = gc.get_freeze_count()
garbage = [[object()] for _ in range(50_000)]
aws.reset()
aws.client("dynamodb")
aws.client("sns")
print(json.dumps([before, first, gc.get_freeze_count()]))
"""


def test_aws_first_client_freezes_the_import_heap_once() -> None:
    env = {
        **os.environ,
        "STACK": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    before, first, after = json.loads(out.stdout)
    # Python 3.12 starts with a few hundred objects frozen already; 3.11 with none. boto3 and
    # botocore alone are tens of thousands of tracked objects.
    assert first - before > 10_000, (before, first)
    assert after == first, "frozen once: later clients and aws.reset() freeze nothing more"
