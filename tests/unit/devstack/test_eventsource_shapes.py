"""devstack.eventsources: the pure helpers that shape Lambda events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws

from devstack import eventsources as es

RT = SimpleNamespace(region="us-east-1")
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"


def handler(event: dict[str, Any], context: Any) -> None:
    return None


# --------------------------------------------------------------------- to_lambda_json


def test_to_lambda_json_datetime_to_epoch_seconds() -> None:
    assert es.to_lambda_json(datetime(2025, 1, 1, tzinfo=UTC)) == 1735689600
    # Another offset, the same instant.
    plus_two = timezone(timedelta(hours=2))
    assert es.to_lambda_json(datetime(2025, 1, 1, 2, 0, tzinfo=plus_two)) == 1735689600
    # Sub-second precision is dropped, and the result is an int, not a float.
    value = es.to_lambda_json(datetime(2025, 1, 1, 0, 0, 1, 900000, tzinfo=UTC))
    assert value == 1735689601
    assert type(value) is int


def test_to_lambda_json_bytes_to_base64() -> None:
    assert es.to_lambda_json(b"\x00\x01\xff") == "AAH/"
    assert es.to_lambda_json(bytearray(b"hello")) == base64.b64encode(b"hello").decode()
    assert es.to_lambda_json(b"") == ""


def test_to_lambda_json_nested() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2025, 1, 1, tzinfo=UTC),
            "Keys": {"pk": {"S": "order#1"}, "blob": {"B": b"\x01\x02"}},
            "NewImage": {"tags": {"BS": [b"a", b"b"]}, "n": {"N": "5"}},
            "SizeBytes": 42,
        },
        "flags": [True, None, 1.5],
    }
    out = es.to_lambda_json(record)
    assert out == {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": 1735689600,
            "Keys": {"pk": {"S": "order#1"}, "blob": {"B": "AQI="}},
            "NewImage": {"tags": {"BS": ["YQ==", "Yg=="]}, "n": {"N": "5"}},
            "SizeBytes": 42,
        },
        "flags": [True, None, 1.5],
    }
    json.dumps(out)  # JSON-serialisable now
    # The input is not modified.
    assert record["dynamodb"]["Keys"]["blob"] == {"B": b"\x01\x02"}  # type: ignore[index]


# --------------------------------------------------------------------- _failure_ids


@pytest.mark.parametrize(
    "result",
    [
        None,
        {},
        "ok",
        ["x"],
        {"batchItemFailures": []},
        {"batchItemFailures": None},
        {"other": 1},
    ],
)
def test_failure_ids_nothing_failed(result: Any) -> None:
    assert es._failure_ids(result) == []


def test_failure_ids_valid_list() -> None:
    result = {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert es._failure_ids(result) == ["m1", "m2"]


@pytest.mark.parametrize(
    "items",
    [
        [{"itemIdentifier": "m1"}, {}],  # missing
        [{"itemIdentifier": ""}],  # empty
        [{"itemIdentifier": None}],
        [{"itemIdentifier": 5}],  # not a string
        ["m1"],  # not a dict
        [{"itemIdentifier": "m1"}, None],
    ],
)
def test_failure_ids_invalid_item_fails_the_whole_batch(items: list[Any]) -> None:
    assert es._failure_ids({"batchItemFailures": items}) is None


# --------------------------------------------------------------------- _merge_results


def failures(*ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


def test_merge_results_first_result_is_taken_as_is() -> None:
    assert es._merge_results(None, None) is None
    assert es._merge_results(None, failures("a")) == failures("a")
    assert es._merge_results(None, "anything") == "anything"


def test_merge_results_union_of_failures() -> None:
    merged = es._merge_results(failures("b", "a"), failures("c", "a"))
    assert es._failure_ids(merged) == ["a", "b", "c"]
    assert es._failure_ids(es._merge_results(failures("a"), None)) == ["a"]
    assert es._failure_ids(es._merge_results({}, failures("z"))) == ["z"]
    assert es._failure_ids(es._merge_results({}, {})) == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"batchItemFailures": [{}]}, failures("a")),
        (failures("a"), {"batchItemFailures": [{"itemIdentifier": ""}]}),
        ({"batchItemFailures": ["bad"]}, None),
    ],
)
def test_merge_results_whole_batch_failure_propagates(a: Any, b: Any) -> None:
    merged = es._merge_results(a, b)
    assert es._failure_ids(merged) is None
    # ... and still does when merged again with a clean result.
    assert es._failure_ids(es._merge_results(merged, failures("x"))) is None


# --------------------------------------------------------------------- SqsSource._record


def sqs_source() -> es.SqsSource:
    source = es.SqsSource(RT, "on_order", handler, "orders", batch_size=10, window_seconds=0)  # type: ignore[arg-type]
    source.arn = QUEUE_ARN
    return source


def test_sqs_record_shape() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Body": "hello",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1735689600000"},
    }
    assert sqs_source()._record(message) == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1735689600000"},
        "messageAttributes": {},
        "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def test_sqs_record_message_attributes_in_lambda_shape() -> None:
    message = {
        "MessageId": "m-2",
        "ReceiptHandle": "rh-2",
        "Body": "{}",
        "MessageAttributes": {
            "color": {"StringValue": "red", "DataType": "String"},
            "count": {"StringValue": "42", "DataType": "Number"},
            "blob": {"BinaryValue": b"\x00\x01\xfe", "DataType": "Binary"},
            "typed": {"StringValue": "x", "DataType": "String.custom"},
        },
    }
    record = sqs_source()._record(message)
    assert record["messageAttributes"] == {
        "color": {
            "stringValue": "red",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "count": {
            "stringValue": "42",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "blob": {
            "binaryValue": "AAH+",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
        "typed": {
            "stringValue": "x",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String.custom",
        },
    }
    assert base64.b64decode(record["messageAttributes"]["blob"]["binaryValue"]) == b"\x00\x01\xfe"
    assert record["md5OfBody"] == ""
    assert record["attributes"] == {}
    json.dumps(record)  # what Lambda passes is JSON


def test_sqs_record_uses_the_source_arn_and_runtime_region() -> None:
    source = es.SqsSource(SimpleNamespace(region="eu-central-1"), "h", handler, "q", 1, 0)  # type: ignore[arg-type]
    source.arn = "arn:aws:sqs:eu-central-1:1:q"
    record = source._record({"MessageId": "m", "ReceiptHandle": "r", "Body": ""})
    assert record["eventSourceARN"] == "arn:aws:sqs:eu-central-1:1:q"
    assert record["awsRegion"] == "eu-central-1"


# --------------------------------------------------------------------- S3Source.events


def s3_source() -> es.S3Source:
    return es.S3Source(RT, "on_upload", handler, "images", ["s3:ObjectCreated:*"], "in/", None)  # type: ignore[arg-type]


def moto_style_record(key: str, **extra: Any) -> dict[str, Any]:
    obj = {"key": quote_plus(key), "size": 3, "eTag": "abc"}
    obj.update(extra)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "devstack-on_upload",
            "bucket": {"name": "images", "arn": "arn:aws:s3:::images"},
            "object": obj,
        },
    }


def test_moto_encodes_the_slash_in_keys() -> None:
    # The premise of the re-encoding below.
    assert quote_plus("in/my photo+1.txt") == "in%2Fmy+photo%2B1.txt"


def test_s3_events_re_encode_the_key_like_aws() -> None:
    body = {"Records": [moto_style_record("in/my photo+1.txt")]}
    events = s3_source().events({"Body": json.dumps(body)})
    assert len(events) == 1
    (record,) = events[0]["Records"]
    assert record["s3"]["object"]["key"] == "in/my+photo%2B1.txt"
    assert record["s3"]["object"]["size"] == 3
    assert record["s3"]["bucket"]["name"] == "images"
    assert record["eventName"] == "ObjectCreated:Put"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/b/c.txt", "a/b/c.txt"),
        ("uploads/my photo.jpg", "uploads/my+photo.jpg"),
        ("x/é.png", "x/%C3%A9.png"),
        ("a&b=c.txt", "a%26b%3Dc.txt"),
    ],
)
def test_s3_events_key_encoding_cases(key: str, expected: str) -> None:
    body = {"Records": [moto_style_record(key)]}
    (event,) = s3_source().events({"Body": json.dumps(body)})
    assert event["Records"][0]["s3"]["object"]["key"] == expected


def test_s3_events_one_event_per_record_each_with_a_sequencer() -> None:
    body = {
        "Records": [
            moto_style_record("in/a.txt"),
            moto_style_record("in/b.txt"),
            moto_style_record("in/c.txt"),
        ]
    }
    source = s3_source()
    events = source.events({"Body": json.dumps(body)})
    assert [len(e["Records"]) for e in events] == [1, 1, 1]
    keys = [e["Records"][0]["s3"]["object"]["key"] for e in events]
    assert keys == ["in/a.txt", "in/b.txt", "in/c.txt"]
    seqs = [e["Records"][0]["s3"]["object"]["sequencer"] for e in events]
    for s in seqs:
        assert len(s) == 16
        int(s, 16)  # hexadecimal
    # Distinct and increasing, also across calls.
    assert [int(s, 16) for s in seqs] == sorted({int(s, 16) for s in seqs})
    (later,) = source.events({"Body": json.dumps({"Records": [moto_style_record("in/d.txt")]})})
    assert int(later["Records"][0]["s3"]["object"]["sequencer"], 16) > int(seqs[-1], 16)


def test_s3_events_keep_an_existing_sequencer() -> None:
    body = {"Records": [moto_style_record("in/a.txt", sequencer="00ABC")]}
    (event,) = s3_source().events({"Body": json.dumps(body)})
    assert event["Records"][0]["s3"]["object"]["sequencer"] == "00ABC"


def test_s3_events_fill_in_the_lambda_record_fields() -> None:
    body = {"Records": [moto_style_record("in/a.txt")]}
    (event,) = s3_source().events({"Body": json.dumps(body)})
    record = event["Records"][0]
    assert record["userIdentity"] == {"principalId": "DEVSTACK"}
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert len(record["responseElements"]["x-amz-request-id"]) == 16
    assert record["s3"]["bucket"]["ownerIdentity"] == {"principalId": "DEVSTACK"}
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::images"


def test_s3_events_test_event_yields_nothing() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "images"}
    assert s3_source().events({"Body": json.dumps(body)}) == []


def test_s3_events_from_a_real_moto_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="notify")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        s3.create_bucket(Bucket="images")
        s3.put_bucket_notification_configuration(
            Bucket="images",
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"Id": "n", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        s3.put_object(Bucket="images", Key="in/my photo+1.txt", Body=b"abc")
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = [m for m in messages if "Records" in json.loads(m["Body"])]
    assert len(bodies) == 1
    raw_key = json.loads(bodies[0]["Body"])["Records"][0]["s3"]["object"]["key"]
    assert raw_key == "in%2Fmy+photo%2B1.txt"
    (event,) = s3_source().events(bodies[0])
    obj = event["Records"][0]["s3"]["object"]
    assert obj["key"] == "in/my+photo%2B1.txt"
    assert obj["size"] == 3
    assert "sequencer" in obj
