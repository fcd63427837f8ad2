"""devstack.eventsources shapes the events of moto's SQS, SNS, S3 and DynamoDB
streams as Lambda delivers AWS's: the same keys, at every level, as the canned
AWS samples in tests/support/events."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from devstack import eventsources as es
from tests.support.lambda_events import record

REGION = "us-east-1"
ATTRIBUTES = {
    "type": {"DataType": "String", "StringValue": "OrderPlaced"},
    "orderId": {"DataType": "String", "StringValue": "o-1"},
}
# Keys AWS sends that the emulator does not make up: S3's extended request id.
DEVSTACK_OMITS = {"s3": {"responseElements.x-amz-id-2"}}

# Maps whose keys are data: item attributes stop here, message attributes
# compare the shape of each value.
_OPAQUE = {"NewImage", "OldImage", "Keys"}
_PER_NAME = {"messageAttributes", "MessageAttributes"}


def key_paths(value: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if key in _OPAQUE or not isinstance(inner, dict):
            continue
        if key in _PER_NAME:
            for attribute in inner.values():
                paths |= key_paths(attribute, f"{path}.*.")
        else:
            paths |= key_paths(inner, f"{path}.")
    return paths


def assert_shaped_like_aws(kind: str, delivered: dict[str, Any]) -> None:
    aws = key_paths(record(kind))
    got = key_paths(delivered)
    assert got - aws == set(), f"devstack adds to AWS's {kind} record"
    assert aws - got == DEVSTACK_OMITS.get(kind, set()), f"devstack leaves out of a {kind} record"


class Runtime(SimpleNamespace):
    """What the sources use of devstack's Runtime: clients, a region, invoke."""

    def __init__(self, **clients: Any) -> None:
        # No state folder: stream positions are kept in memory only.
        super().__init__(region=REGION, account="123456789012", positions=None, **clients)
        self.events: list[dict[str, Any]] = []

    def invoke(self, kind: str, name: str, handler: Any, event: Any, n: int) -> tuple[None, None]:
        self.events.append(event)
        return None, None

    def fail(self, *args: Any) -> None:
        raise AssertionError(args)


@pytest.fixture
def moto(aws: boto3.session.Session) -> None:
    """moto in-process (the conftest's ``aws``), for clients made here."""


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return str(url), str(arn)


def receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )["Messages"]
    )


def test_an_sqs_record_has_the_keys_of_aws_sample(moto: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url, arn = queue(sqs, "notify")
    # As a bus rule sends it: the EventBridge event, no message attributes.
    sqs.send_message(QueueUrl=url, MessageBody=record("sqs")["body"])
    (message,) = receive(sqs, url)
    source = es.SqsSource(Runtime(sqs=sqs), "notify_step", lambda e, c: None, "notify", 10, 0)  # type: ignore[arg-type]
    source.arn = arn
    assert_shaped_like_aws("sqs", source._record(message))


def test_an_sns_record_has_the_keys_of_aws_sample(moto: None) -> None:
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    url, arn = queue(sqs, "devstack-sns")
    topic = sns.create_topic(Name="customer-notifications")["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    sns.publish(
        TopicArn=topic,
        Message=record("sns")["Sns"]["Message"],
        MessageAttributes={k: dict(v) for k, v in ATTRIBUTES.items()},
    )
    (message,) = receive(sqs, url)
    source = es.SnsSource(Runtime(sqs=sqs, sns=sns), "on_event", lambda e, c: None, topic)  # type: ignore[arg-type]
    source.topic_arn, source.subscription_arn = topic, subscription
    (event,) = source.events(message)
    (delivered,) = event["Records"]
    assert_shaped_like_aws("sns", delivered)


def test_an_s3_record_has_the_keys_of_aws_sample_but_the_extended_request_id(moto: None) -> None:
    sqs, s3 = boto3.client("sqs", region_name=REGION), boto3.client("s3", region_name=REGION)
    url, arn = queue(sqs, "devstack-s3")
    s3.create_bucket(Bucket="images")
    s3.put_bucket_notification_configuration(
        Bucket="images",
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "n", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket="images", Key="uploads/MUG-1/" + "a" * 32, Body=b"abc")
    (message,) = [m for m in receive(sqs, url) if "Records" in json.loads(m["Body"])]
    source = es.S3Source(
        Runtime(sqs=sqs, s3=s3),  # type: ignore[arg-type]
        "image_uploaded",
        lambda e, c: None,
        "images",
        ["s3:ObjectCreated:*"],
        "uploads/",
        None,
    )
    (event,) = source.events(message)
    (delivered,) = event["Records"]
    assert_shaped_like_aws("s3", delivered)


def test_a_stream_record_has_the_keys_of_aws_sample(moto: None) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    # moto in-process answers the regional endpoint, not the account's.
    streams = boto3.client(
        "dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
    )
    ddb.create_table(
        TableName="orders",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    ddb.put_item(TableName="orders", Item=record("dynamodb")["dynamodb"]["NewImage"])
    rt = Runtime(streams=streams)
    source = es.StreamSource(
        rt,  # type: ignore[arg-type]
        "relay_order_events",
        lambda e, c: None,
        stream_arn,
        10,
        "TRIM_HORIZON",
        0,
        3,
    )
    source.wire()
    (shard,) = source.shards
    source._deliver(shard, source._fetch(shard, 10))
    ((delivered,),) = [e["Records"] for e in rt.events]
    assert delivered["dynamodb"]["NewImage"] == record("dynamodb")["dynamodb"]["NewImage"]
    assert_shaped_like_aws("dynamodb", delivered)
