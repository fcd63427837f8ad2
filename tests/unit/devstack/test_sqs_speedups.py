"""devstack.moto_patches.speed_up_sqs_and_rules: what moto recomputed per
message, computed once, with the same answers."""

from __future__ import annotations

from typing import Any

import boto3
import jsonpath_ng.ext
import pytest
import time_machine
from moto.events.utils import EventTemplateParser
from moto.sqs import models as sqs_models

from devstack.moto_patches import speed_up_sqs_and_rules


@pytest.fixture
def sqs(aws: boto3.session.Session) -> Any:
    speed_up_sqs_and_rules()
    speed_up_sqs_and_rules()  # idempotent
    return aws.client("sqs")


def counts(sqs: Any, url: str, names: list[str]) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"])


def test_the_message_counts_are_what_the_queue_holds(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]) == 1

    every = counts(sqs, url, ["All"])
    assert (
        every["ApproximateNumberOfMessages"],
        every["ApproximateNumberOfMessagesNotVisible"],
        every["ApproximateNumberOfMessagesDelayed"],
    ) == ("2", "1", "1")
    assert counts(sqs, url, ["ApproximateNumberOfMessages"]) == {"ApproximateNumberOfMessages": "2"}
    assert counts(sqs, url, ["VisibilityTimeout", "ApproximateNumberOfMessagesDelayed"]) == {
        "VisibilityTimeout": "30",
        "ApproximateNumberOfMessagesDelayed": "1",
    }


def test_one_get_queue_attributes_walks_the_messages_once_and_a_send_never(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    walks: list[str] = []
    original = sqs_models.Queue.approximate_number_of_messages

    def counted(self: Any) -> int:
        walks.append(self.name)
        return int(original.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(sqs_models.Queue, "approximate_number_of_messages", property(counted))

    assert counts(sqs, url, ["ApproximateNumberOfMessages"]) == {"ApproximateNumberOfMessages": "1"}
    assert walks == ["q"]  # moto's own method built the attributes three times
    walks.clear()
    sqs.send_message(QueueUrl=url, MessageBody="again")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "b"}])
    assert walks == []
    assert counts(sqs, url, ["ApproximateNumberOfMessages"]) == {"ApproximateNumberOfMessages": "3"}


def test_a_message_past_the_retention_period_is_not_received(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    with time_machine.travel(1_800_000_000, tick=False) as clock:
        sqs.send_message(QueueUrl=url, MessageBody="kept")
        clock.shift(59)
        (got,) = sqs.receive_message(QueueUrl=url)["Messages"]
        assert got["Body"] == "kept"
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])
        sqs.send_message(QueueUrl=url, MessageBody="expired")
        clock.shift(61)
        assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_the_sqs_clock_is_the_same_number_as_moto_s() -> None:
    from moto.core import utils

    speed_up_sqs_and_rules()
    with time_machine.travel(1_800_000_000.25, tick=False):
        # the same number to the microsecond (moto's datetime holds no finer)
        ours, ours_ms = getattr(sqs_models, "unix_time"), getattr(sqs_models, "unix_time_millis")  # noqa: B009
        assert ours() == pytest.approx(utils.unix_time(), abs=1e-6)
        assert ours() == pytest.approx(1_800_000_000.25, abs=1e-6)
        assert ours_ms() == pytest.approx(utils.unix_time_millis(), abs=1e-3)


def test_an_input_path_is_parsed_once_and_finds_the_same_values() -> None:
    speed_up_sqs_and_rules()
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    assert parse("$.detail.orderId") is parse("$.detail.orderId")
    event: Any = {
        "id": "e1",
        "ingestion-time": 1,
        "detail": {"orderId": "o1", "n": 2},
        "source": "s",
    }
    for _ in range(2):
        out = EventTemplateParser.parse(
            '{"order": "<order>", "n": <n>, "whole": <detail>}',
            {"order": "$.detail.orderId", "n": "$.detail.n", "detail": "$.detail"},
            event,
        )
        assert out == {"order": "o1", "n": 2, "whole": event["detail"]}


def test_stream_records_read_as_moto_s_serializer_wrote_them(
    aws: boto3.session.Session, streams: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    speed_up_sqs_and_rules()
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    item = {
        "pk": {"S": "a"},
        "n": {"N": "1.50"},
        "b": {"B": b"\x00\x01\xff"},
        "bs": {"BS": [b"x", b"\x00"]},
        "history": {"L": [{"M": {"t": {"S": "OrderPlaced"}, "z": {"NULL": True}}}]},
        "ss": {"SS": ["a", "b"]},
        "ok": {"BOOL": False},
    }
    ddb.put_item(TableName="t", Item=item)
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    ddb.delete_item(TableName="t", Key={"pk": {"S": "a"}})
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> list[dict[str, Any]]:
        it = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        got = streams.get_records(ShardIterator=it, Limit=10)
        assert got["NextShardIterator"]
        return list(got["Records"])

    ours = records()
    monkeypatch.setattr(
        DynamoDBStreamsHandler,
        "get_records",
        DynamoDBStreamsHandler.get_records.moto,  # type: ignore[attr-defined]
    )
    assert ours == records()
    assert [r["eventName"] for r in ours] == ["INSERT", "MODIFY", "REMOVE"]
    assert ours[0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\x01\xff"}
