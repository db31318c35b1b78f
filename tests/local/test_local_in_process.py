"""local/in_process.py: the local stack's own calls answered by moto in-process, with the server's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer
from moto.sqs.models import SQSBackend
from support.aws import fake_aws_environment

from local import in_process
from local.emulator import REGION, client

TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ThreadedMotoServer, str]]:
    fake_aws_environment(monkeypatch)
    BackendDict.reset()  # moto's backends are process-global: start empty
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield moto, f"http://{host}:{port}"
    finally:
        moto.stop()
        BackendDict.reset()


@pytest.fixture
def endpoint(server: tuple[ThreadedMotoServer, str]) -> str:
    return server[1]


def in_process_client(service: str, endpoint: str) -> Any:
    session = boto3.session.Session(region_name=REGION)
    in_process.install(session, endpoint)
    return session.client(service, endpoint_url=endpoint)


def test_in_process_writes_what_the_servers_clients_read_and_back(endpoint: str) -> None:
    over_http = client("dynamodb", endpoint)
    over_http.create_table(**TABLE)
    local = in_process_client("dynamodb", endpoint)
    local.put_item(TableName="t", Item={"k": {"S": "a"}})
    over_http.put_item(TableName="t", Item={"k": {"S": "b"}})
    assert "Item" in over_http.get_item(TableName="t", Key={"k": {"S": "a"}}, ConsistentRead=True)
    assert "Item" in local.get_item(TableName="t", Key={"k": {"S": "b"}}, ConsistentRead=True)


def test_in_process_answers_with_the_server_stopped(server: tuple[ThreadedMotoServer, str]) -> None:
    moto, endpoint = server
    local = in_process_client("dynamodb", endpoint)
    local.create_table(**TABLE)
    moto.stop()  # no HTTP server: only the in-process path can answer
    local.put_item(TableName="t", Item={"k": {"S": "a"}})
    assert local.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}


def test_in_process_conditional_write_and_transaction_fail_as_on_aws(endpoint: str) -> None:
    local = in_process_client("dynamodb", endpoint)
    local.create_table(**TABLE)
    local.put_item(TableName="t", Item={"k": {"S": "a"}})
    with pytest.raises(ClientError) as refused:
        local.put_item(TableName="t", Item={"k": {"S": "a"}}, ConditionExpression="attribute_not_exists(k)")
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    marker = {"Put": {"TableName": "t", "Item": {"k": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(k)"}}
    update = {
        "Update": {
            "TableName": "t",
            "Key": {"k": {"S": "n"}},
            "UpdateExpression": "ADD c :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    with pytest.raises(ClientError) as cancelled:
        local.transact_write_items(TransactItems=[update, marker])
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in local.get_item(TableName="t", Key={"k": {"S": "n"}}, ConsistentRead=True)


def test_in_process_stream_shows_the_write(endpoint: str) -> None:
    local = in_process_client("dynamodb", endpoint)
    arn = local.create_table(**TABLE)["TableDescription"]["LatestStreamArn"]
    local.put_item(TableName="t", Item={"k": {"S": "a"}})
    streams = in_process_client("dynamodbstreams", endpoint)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["dynamodb"]["NewImage"] for r in records] == [{"k": {"S": "a"}}]


def test_in_process_publish_reaches_the_servers_queue(endpoint: str) -> None:
    over_http = client("sqs", endpoint)
    url = over_http.create_queue(QueueName="q")["QueueUrl"]
    arn = over_http.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = in_process_client("sns", endpoint)
    topic = sns.create_topic(Name="views")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message=json.dumps({"n": 1}))
    local = in_process_client("sqs", endpoint)
    [message] = local.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == {"n": 1}
    local.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert over_http.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []


def test_in_process_leaves_other_endpoints_to_http(server: tuple[ThreadedMotoServer, str]) -> None:
    moto, endpoint = server
    session = boto3.session.Session(region_name=REGION)
    in_process.install(session, "http://127.0.0.1:1")  # some other endpoint
    elsewhere = session.client("dynamodb", endpoint_url=endpoint)
    elsewhere.list_tables()  # went over HTTP to the server
    moto.stop()
    with pytest.raises(Exception, match="Could not connect"):
        session.client(
            "dynamodb", endpoint_url=endpoint, config=boto3.session.Config(retries={"max_attempts": 0})
        ).list_tables()


def test_in_process_url_is_the_same_path_on_aws() -> None:
    host = "dynamodb.us-east-1.amazonaws.com"
    assert in_process.aws_url("http://127.0.0.1:5000/", "http://127.0.0.1:5000", host) == f"https://{host}/"
    assert (
        in_process.aws_url("http://127.0.0.1:5000/a/b?x=1", "http://127.0.0.1:5000", host) == f"https://{host}/a/b?x=1"
    )
    assert in_process.aws_url("http://127.0.0.1:50001/", "http://127.0.0.1:5000", host) is None


def test_in_process_region_is_the_one_the_request_was_signed_for() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=local/20261129/eu-west-1/dynamodb/aws4_request, SignedHeaders=host"
    assert in_process.signed_region(auth) == "eu-west-1"
    assert in_process.signed_region(auth.encode()) == "eu-west-1"
    assert in_process.signed_region(None) == REGION


def test_in_process_requests_are_answered_one_at_a_time(server: tuple[ThreadedMotoServer, str]) -> None:
    """moto's backends are not thread-safe; each request must be atomic, as on AWS."""
    _, endpoint = server
    session = boto3.Session(region_name=REGION)
    in_process.install(session, endpoint)
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(**TABLE)
    held: list[bool] = []
    original = DynamoDBBackend.put_item

    def put_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        held.append(in_process._MOTO_LOCK.locked())
        return original(self, *args, **kwargs)

    polled: list[bool] = []
    receive = SQSBackend.receive_message

    def receive_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        polled.append(in_process._MOTO_LOCK.locked())
        return receive(self, *args, **kwargs)

    sqs = session.client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoDBBackend, "put_item", put_item)
        patch.setattr(SQSBackend, "receive_message", receive_message)
        ddb.put_item(TableName="t", Item={"k": {"S": "a"}})
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert held == [True]
    assert polled == [False], "a long poll waits inside moto: it must not hold every other call"
