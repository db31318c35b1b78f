"""Every function's whole role, table-driven: what the program deploys, and what the one pure
function (policies.function_statements) computes from the wiring table, is exactly this.

The table was read off the deployed policies before the grants were computed from the wiring
table, so a grant that appears, widens or disappears fails here by name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.stack_graph import QUEUE, TABLE, TOPIC, StackGraph

from components import policies
from handlers.wiring import WIRING, FunctionSpec, queue_name

ACCOUNT = "eu-west-1:123456789012"
LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"]
CONSUME = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
STREAM_OF = "dynamodb:table/{{stack}}-{table}/stream/2025-01-01T00:00:00.000"
STREAM = STREAM_OF.format(table="PostCountWriter")
STREAM_READ = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
CONNECTIONS_API = "execute-api:websocket-api-id/{stack}/POST/@connections/*"
LIVE_TABLES = [
    (
        "ConnectionsAccess",
        [
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
        ],
        "dynamodb:table/{stack}-Connections",
    ),
    ("PostCountReaderAccess", ["dynamodb:GetItem"], "dynamodb:table/{stack}-PostCountReader"),
    ("HomeAndProfileAccess", ["dynamodb:GetItem"], "dynamodb:table/{stack}-HomeAndProfile"),
]
SERIES = "dynamodb:table/{stack}-Series"
# Posts and pages may alert: previous snapshot and hourly referrers (Query), the alert's claim
# (PutItem) and its release after a failed publish (DeleteItem). No sns:Publish without a topic.
SERIES_ALERTING = ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]


def _series(function: str, table: str, actions: list[str]) -> list[tuple[str, list[str], str]]:
    return [
        ("SeriesAccess", actions, SERIES),
        ("ReadStream", STREAM_READ, STREAM_OF.format(table=table)),
        ("SendFailedRecords", ["sqs:SendMessage"], f"sqs:{{prefix}}-{function}-failures"),
    ]


# function -> (Sid, actions, resource) after WriteOwnLogs, in order. Resources are
# "<service>:<resource>" with {stack} and {prefix} (blog-analytics-<stack>) filled in.
EXPECTED: dict[str, list[tuple[str, list[str], str]]] = {
    "connect": [],
    "disconnect": [("ConnectionsAccess", ["dynamodb:DeleteItem"], "dynamodb:table/{stack}-Connections")],
    "default": [],
    "views": [
        ("PostCountReaderAccess", ["dynamodb:GetItem"], "dynamodb:table/{stack}-PostCountReader"),
        ("HomeAndProfileAccess", ["dynamodb:GetItem"], "dynamodb:table/{stack}-HomeAndProfile"),
        (
            "ConnectionsAccess",
            ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            "dynamodb:table/{stack}-Connections",
        ),
        ("PublishViewEvents", ["sns:Publish"], "sns:{prefix}-view-events"),
    ],
    "watch": [
        ("PostCountReaderAccess", ["dynamodb:BatchGetItem"], "dynamodb:table/{stack}-PostCountReader"),
        ("HomeAndProfileAccess", ["dynamodb:BatchGetItem"], "dynamodb:table/{stack}-HomeAndProfile"),
        (
            "ConnectionsAccess",
            ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            "dynamodb:table/{stack}-Connections",
        ),
    ],
    **{
        function: [
            *LIVE_TABLES,
            ("ReadStream", STREAM_READ, STREAM_OF.format(table=table)),
            ("SendFailedRecords", ["sqs:SendMessage"], f"sqs:{{prefix}}-{function}-failures"),
            ("PushToConnections", ["execute-api:ManageConnections"], CONNECTIONS_API),
        ]
        for function, table in (
            ("live-posts", "PostCountReader"),
            ("live-pages", "HomeAndProfile"),
            ("live-connections", "Connections"),
        )
    },
    "stats": [
        ("PostCountReaderAccess", ["dynamodb:BatchGetItem"], "dynamodb:table/{stack}-PostCountReader"),
        ("HomeAndProfileAccess", ["dynamodb:BatchGetItem"], "dynamodb:table/{stack}-HomeAndProfile"),
        ("TopPostsAccess", ["dynamodb:BatchGetItem"], "dynamodb:table/{stack}-TopPosts"),
    ],
    **{
        f"{page}-counter": [
            ("HomeAndProfileAccess", ["dynamodb:UpdateItem"], "dynamodb:table/{stack}-HomeAndProfile"),
            ("CountedEventsAccess", ["dynamodb:PutItem"], "dynamodb:table/{stack}-CountedEvents"),
            ("ConsumeOwnQueue", CONSUME, f"sqs:{{prefix}}-{page}_view"),
        ]
        for page in ("homepage", "profile")
    },
    "post-counter": [
        ("PostCountWriterAccess", ["dynamodb:UpdateItem"], "dynamodb:table/{stack}-PostCountWriter"),
        ("CountedEventsAccess", ["dynamodb:PutItem"], "dynamodb:table/{stack}-CountedEvents"),
        ("ConsumeOwnQueue", CONSUME, "sqs:{prefix}-post_view"),
    ],
    "referrer-counter": [
        ("ReferrerAccess", ["dynamodb:UpdateItem"], "dynamodb:table/{stack}-Referrer"),
        ("CountedEventsAccess", ["dynamodb:PutItem"], "dynamodb:table/{stack}-CountedEvents"),
        ("ConsumeOwnQueue", CONSUME, "sqs:{prefix}-referrer"),
    ],
    "replicate": [
        ("PostCountReaderAccess", ["dynamodb:PutItem"], "dynamodb:table/{stack}-PostCountReader"),
        ("TopPostsAccess", ["dynamodb:GetItem", "dynamodb:PutItem"], "dynamodb:table/{stack}-TopPosts"),
        ("ReadStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], STREAM),
        ("SendFailedRecords", ["sqs:SendMessage"], "sqs:{prefix}-replicate-failures"),
    ],
    "replicate-repair": [
        ("PostCountWriterAccess", ["dynamodb:GetItem", "dynamodb:Scan"], "dynamodb:table/{stack}-PostCountWriter"),
        ("PostCountReaderAccess", ["dynamodb:PutItem"], "dynamodb:table/{stack}-PostCountReader"),
        ("TopPostsAccess", ["dynamodb:GetItem", "dynamodb:PutItem"], "dynamodb:table/{stack}-TopPosts"),
        ("ConsumeOwnQueue", CONSUME, "sqs:{prefix}-replicate-failures"),
        ("RereadStreamRecords", ["dynamodb:GetRecords", "dynamodb:GetShardIterator"], STREAM),
    ],
    "series-posts": _series("series-posts", "PostCountWriter", SERIES_ALERTING),
    "series-pages": _series("series-pages", "HomeAndProfile", SERIES_ALERTING),
    "series-referrers": _series("series-referrers", "Referrer", ["dynamodb:UpdateItem"]),
}


def _stack_of(graph: StackGraph) -> str:
    return str(graph.of_type(TABLE)[0]["name"]).split("-", 1)[0]


def expected_statements(spec: FunctionSpec, stack: str) -> list[dict[str, Any]]:
    prefix = f"blog-analytics-{stack}"

    def arn(resource: str) -> str:
        service, rest = resource.format(stack=stack, prefix=prefix).split(":", 1)
        return f"arn:aws:{service}:{ACCOUNT}:{rest}"

    own_logs = ("WriteOwnLogs", LOGS, f"logs:log-group:/aws/lambda/{prefix}-{spec.name}:*")
    return [
        {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": [arn(resource)]}
        for sid, actions, resource in [own_logs, *EXPECTED[spec.name]]
    ]


def stack_arns(graph: StackGraph, function: str) -> policies.StackArns:
    """Every ARN the deployed stack has, by wiring-table name, as the pure function takes them."""
    stack = _stack_of(graph)
    prefix = f"blog-analytics-{stack}"
    tables = {t.name.removeprefix("counts-"): t for t in graph.of_type(TABLE)}
    queues = {q["name"]: q for q in graph.of_type(QUEUE)}
    streams = {s.table for s in WIRING.streams}
    return policies.StackArns(
        log_group=f"arn:aws:logs:{ACCOUNT}:log-group:/aws/lambda/{prefix}-{function}",
        tables={name: f"arn:aws:dynamodb:{ACCOUNT}:table/{t['name']}" for name, t in tables.items()},
        topic=f"arn:aws:sns:{ACCOUNT}:{graph.of_type(TOPIC)[0]['name']}",
        queues={q.name: f"arn:aws:sqs:{ACCOUNT}:{queues[queue_name(prefix, q.name)]['name']}" for q in WIRING.queues},
        streams={
            name: f"arn:aws:dynamodb:{ACCOUNT}:table/{t['name']}/stream/2025-01-01T00:00:00.000"
            for name, t in tables.items()
            if name in streams
        },
        failure_queues={
            s.failure_queue: f"arn:aws:sqs:{ACCOUNT}:{queues[queue_name(prefix, s.failure_queue)]['name']}"
            for s in WIRING.streams
        },
        connections=arn_of(CONNECTIONS_API.format(stack=stack)),
    )


def arn_of(resource: str) -> str:
    service, rest = resource.split(":", 1)
    return f"arn:aws:{service}:{ACCOUNT}:{rest}"


def test_grants_table_covers_every_function_of_the_wiring_table() -> None:
    assert set(EXPECTED) == {spec.name for spec in WIRING.functions}


@pytest.mark.parametrize("spec", WIRING.functions, ids=lambda f: f.name)
def test_grants_deployed_role_is_exactly_the_table(stack: StackGraph, spec: FunctionSpec) -> None:
    deployed = stack.statements(stack.function(spec.name))
    assert deployed == expected_statements(spec, _stack_of(stack)), f"{spec.name}: a grant changed"


@pytest.mark.parametrize("spec", WIRING.functions, ids=lambda f: f.name)
def test_grants_function_statements_compute_the_table_from_the_wiring(stack: StackGraph, spec: FunctionSpec) -> None:
    computed = policies.function_statements(spec, WIRING, stack_arns(stack, spec.name))
    # Through JSON, as deployed: tuples in the wiring table become lists.
    assert json.loads(policies.document(computed))["Statement"] == expected_statements(spec, _stack_of(stack))
