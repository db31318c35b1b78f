"""Make moto's DynamoDB transactions cost what they touch, not the size of the tables.

moto rolls a failed TransactWriteItems back by deep-copying every table the
transaction names, once per item, before it starts. The counters write one marker
per view into CountedEvents, and PostCountWriter keeps every stream record, so each
transaction copied more than the last: the local stack slowed to a crawl and grew by
gigabytes after a few thousand views. This keeps moto's behaviour (all or nothing,
cancellation reasons, conditional checks) and snapshots only the items the
transaction names, plus the length of each stream, to restore on failure.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_original = DynamoDBBackend.transact_write_items


def _deepcopy_except_tables(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)


def _key(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attributes = op.get("Key") or op.get("Item") or {}
    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _put_back(table: Table, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
    """Restore one item as it was, without a stream record (the write never happened)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
    streams: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        op = next(iter(entry.values()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue  # moto reports the missing table itself
        try:
            hash_key, range_key = _key(table, op)
        except KeyError:
            continue  # a malformed key: moto raises before writing anything
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        if table.stream_shard is not None:
            streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
    try:
        _original(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            _put_back(table, hash_key, range_key, item)
        for shard, length in streams.values():
            del shard.items[length:]
        raise


PATCHES = [
    # The whole-table backups become references; transact_write_items restores instead.
    (dynamodb_models, "copy", SimpleNamespace(deepcopy=_deepcopy_except_tables)),
    (DynamoDBBackend, "transact_write_items", transact_write_items),
]
"""Installed by local/emulator.py (for good in the stack's process, for a block in tests)."""
