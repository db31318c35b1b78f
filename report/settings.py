"""Which stack the report reads: its region from `Pulumi.<stack>.yaml`, its tables by name.

Read the way the Pulumi program reads its config (components/config.py), but as a plain
YAML file, so the report needs no Pulumi runtime and works on a machine without the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from handlers.wiring import physical_table_name

ROOT = Path(__file__).resolve().parent.parent
# Pulumi's stack names; also keeps the file name below inside the project directory.
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
LOCAL_REGION = "us-east-1"
"""The local stack's emulator (local/emulator.py) answers in this region."""
# Any credentials work on the emulator; these keep a developer's real ones out of it.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class SettingsError(ValueError):
    """The stack cannot be read: the message says what to pass instead."""


@dataclass(frozen=True)
class StackSettings:
    stack: str
    region: str
    endpoint_url: str | None = None

    def table(self, name: str) -> str:
        return physical_table_name(self.stack, name)


def stack_region(stack: str, root: Path = ROOT) -> str | None:
    """`aws:region` of Pulumi.<stack>.yaml, None when the file does not exist."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return None
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path.name} is not valid YAML: {exc}") from None
    config = data.get("config") if isinstance(data, dict) else None
    region = config.get("aws:region") if isinstance(config, dict) else None
    if not isinstance(region, str) or not region:
        raise SettingsError(f"{path.name} sets no aws:region")
    return region


def resolve(stack: str, endpoint_url: str | None, root: Path = ROOT) -> StackSettings:
    if not STACK_NAME.match(stack):
        raise SettingsError(f"--stack {stack!r}: a stack name is letters, digits, '.', '_' and '-'")
    region = stack_region(stack, root)
    if region is None:
        if endpoint_url is None:
            known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
            raise SettingsError(
                f"--stack {stack}: no Pulumi.{stack}.yaml here (stacks: {', '.join(known) or 'none'}); "
                "for the local stack add --endpoint-url with the aws= URL `python -m local` printed"
            )
        region = LOCAL_REGION
    return StackSettings(stack, region, endpoint_url)
