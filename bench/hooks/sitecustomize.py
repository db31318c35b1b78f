"""Call recorder for the benchmarks, loaded by `site` in the local stack's process.

bench/stack.py starts `python -m local` with this directory on PYTHONPATH and
BENCH_CALL_LOG naming a file; without that variable this module does nothing. It
appends one JSON line per event, so the counts come from the stack's real boto3
calls and handler invocations without touching local/'s internals:

- `{"kind": "call", ...}` for every AWS API call made through botocore (botocore's
  `provide-client-params` and `after-call` events on every session): service,
  operation, the function whose handler made it (or the thread, for the pollers),
  SDK retries, and the item sizes DynamoDB capacity is billed by;
- `{"kind": "invoke", ...}` for every call of a `handlers.*.handler` (wrapped as the
  module is imported): function name, duration, the batch it was given, and the lines
  and bytes its code logged through `handlers.log.log` (wrapped the same way), which
  CloudWatch Logs bills per GB ingested.

Item sizes follow DynamoDB's rules (names + values, UTF-8); bench/cost.py turns
them into read and write units, since the handlers do not ask for
ReturnConsumedCapacity and moto would not report it faithfully anyway. The line
shapes are bench/records.py's TypedDicts.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the stack's process never imports bench: only the type checker reads these
    from bench.records import BatchDetails, CallDetails, CallRecord, LogDetails, Record

_PATH = os.environ.get("BENCH_CALL_LOG")
_lock = threading.Lock()
_local = threading.local()
_out = open(_PATH, "a", encoding="utf-8", buffering=1) if _PATH else None  # noqa: SIM115 (lives with the process)


def _write(record: Record) -> None:
    if _out is not None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with _lock:
            _out.write(line)


# ---- DynamoDB item sizes -------------------------------------------------------------


def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_bytes(value: dict[str, Any]) -> int:  # noqa: PLR0911 (one return per DynamoDB type)
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_bytes(str(Decimal(str(data))))
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(x if isinstance(x, bytes) else str(x).encode()) for x in data)
    if kind == "NS":
        return sum(_number_bytes(str(x)) for x in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_bytes(v) for k, v in data.items())
    return 0


def item_bytes(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in (item or {}).items())


def _update_bytes(update: dict[str, Any]) -> int:
    """An update's item after the write, estimated from its key and values (under 1 KB here)."""
    names = update.get("ExpressionAttributeNames") or {}
    values = update.get("ExpressionAttributeValues") or {}
    return item_bytes(update.get("Key")) + sum(len(n.encode()) for n in names.values()) + item_bytes(values)


def _dynamodb_sizes(  # noqa: PLR0911 (one return per operation)
    operation: str, params: dict[str, Any], parsed: dict[str, Any]
) -> CallDetails:
    """What each operation is billed by: item sizes read or written, and consistency."""
    if operation == "GetItem":
        return {"read": [item_bytes(parsed.get("Item"))], "consistent": bool(params.get("ConsistentRead"))}
    if operation == "BatchGetItem":
        items = [item_bytes(i) for rows in (parsed.get("Responses") or {}).values() for i in rows]
        return {"read": items or [0]}
    if operation in ("Scan", "Query"):
        # Billed by the bytes read, summed over the page before rounding to 4 KB.
        return {"scanned": sum(item_bytes(i) for i in parsed.get("Items") or [])}
    if operation == "PutItem":
        return {"write": [item_bytes(params.get("Item"))]}
    if operation in ("UpdateItem", "DeleteItem"):
        return {"write": [_update_bytes(params)]}
    if operation == "TransactWriteItems":
        entries: list[tuple[str, int]] = []
        for entry in params.get("TransactItems") or []:
            (kind, body), *_ = entry.items()
            entries.append((kind, item_bytes(body.get("Item")) if kind == "Put" else _update_bytes(body)))
        return {"transact_write": entries}
    if operation == "BatchWriteItem":
        sizes = [
            item_bytes((r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key"))
            for rows in (params.get("RequestItems") or {}).values()
            for r in rows
        ]
        return {"write": sizes}
    return {}


def _call_details(service: str, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> CallDetails:
    if service == "dynamodb":
        return _dynamodb_sizes(operation, params, parsed)
    if service == "sns" and operation == "Publish":
        attributes = {k: v.get("StringValue") for k, v in (params.get("MessageAttributes") or {}).items()}
        return {"attributes": attributes, "bytes": len(str(params.get("Message", "")).encode())}
    if service == "sqs" and operation == "ReceiveMessage":
        return {"messages": len(parsed.get("Messages") or [])}
    if service == "sqs" and operation == "DeleteMessageBatch":
        return {"entries": len(params.get("Entries") or [])}
    return {}


# ---- botocore events on every session ---------------------------------------------------


def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["bench_params"] = params


def _record(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    try:
        service = model.service_model.service_name
        params = context.get("bench_params") or {}
        record: CallRecord = {
            "kind": "call",
            "time": time.time(),
            "service": service,
            "op": model.name,
            "fn": getattr(_local, "function", None) or threading.current_thread().name,
            "status": getattr(http_response, "status_code", 0),
            "error": (parsed.get("Error") or {}).get("Code"),
            "retries": (parsed.get("ResponseMetadata") or {}).get("RetryAttempts", 0),
            **_call_details(service, model.name, params, parsed),
        }
        _write(record)
    except Exception as exc:  # never break the stack: record that recording failed
        _write({"kind": "hook_error", "error": type(exc).__name__, "where": "after-call"})


def _install_botocore_events() -> None:
    import botocore.session  # noqa: PLC0415 (only when recording: other processes never pay for it)

    original = botocore.session.Session.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("provide-client-params", _stash)
        self.register("after-call", _record)

    botocore.session.Session.__init__ = init


# ---- handler invocations ------------------------------------------------------------------


def _batch_details(event: Any) -> BatchDetails:
    """Records in a queue or stream batch and the distinct keys they touch."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not records:
        return {}
    keys: set[str] = set()
    for record in records:
        try:
            if "body" in record:
                body = json.loads(record["body"])
                keys.add(str(body.get("articleId") or body.get("page")))
            else:
                keys.add(record["dynamodb"]["Keys"]["articleId"]["S"])
        except (KeyError, TypeError, ValueError):
            continue
    return {"records": len(records), "keys": len(keys)}


def _counted(log: Any, line: Any) -> Any:
    """handlers.log.log, adding each line's bytes to the invocation running on this thread."""

    @functools.wraps(log)
    def counting(level: Any, event: str, **fields: Any) -> None:
        logged = getattr(_local, "logged", None)
        if logged is not None:
            logged["log_lines"] = logged.get("log_lines", 0) + 1
            logged["log_bytes"] = logged.get("log_bytes", 0) + len(line(level, event, **fields).encode())
        log(level, event, **fields)

    return counting


def _timed(module: str, handler: Any) -> Any:
    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        function = getattr(context, "function_name", module)
        outer, outer_logged = getattr(_local, "function", None), getattr(_local, "logged", None)
        logged: LogDetails = {}
        _local.function, _local.logged = function, logged
        start = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            _local.function, _local.logged = outer, outer_logged
            _write(
                {
                    "kind": "invoke",
                    "time": time.time(),
                    "fn": function,
                    "ms": elapsed,
                    **_batch_details(event),
                    **logged,
                }
            )

    return invoke


class _WrappingLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # get_source and friends, for tracebacks
        return getattr(self.inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        if module.__name__ == "handlers.log":  # before any handler imports `log` from it
            module.log = _counted(module.log, module.line)
        handler = getattr(module, "handler", None)
        if callable(handler):
            module.handler = _timed(module.__name__, handler)


class _HandlerFinder(importlib.abc.MetaPathFinder):
    """Wraps `handler` in every `handlers.*` module as it is imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not name.startswith("handlers."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappingLoader(spec.loader)
        return spec


if _PATH:
    _install_botocore_events()
    sys.meta_path.insert(0, _HandlerFinder())
