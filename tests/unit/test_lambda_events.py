"""The canned Lambda events (tests/support/events) and their loader: real
shapes that Chalice's wrappers and the app's readers accept, telling one story
(an OrderPlaced event, relayed onto the bus, queued by a rule and published;
an image uploaded)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

import pytest
from chalice.app import DynamoDBEvent, S3Event, SNSEvent, SQSEvent

from chalicelib.images.model import parse_upload_key
from chalicelib.orders.events import read_message
from chalicelib.orders.relay import SOURCE, order_bus_events
from chalicelib.platform import dynamo
from tests.support.lambda_events import KINDS, batch, load, record, sample


@pytest.mark.parametrize("kind", KINDS)
def test_each_sample_is_one_record_from_its_event_source(kind: str) -> None:
    (canned,) = sample(kind)["Records"]
    assert canned.get("eventSource", canned.get("EventSource")) == f"aws:{kind}"


def test_the_stream_sample_relays_to_the_event_the_queue_and_topic_samples_carry() -> None:
    stream = sample("dynamodb")["Records"]
    ((bus_event, _),) = order_bus_events(stream)
    sqs, sns = record("sqs"), record("sns")["Sns"]
    delivered = json.loads(sqs["body"])  # what a bus rule's SQS target receives
    assert (delivered["source"], delivered["detail-type"]) == (SOURCE, "OrderPlaced")
    assert (bus_event.source, bus_event.detail_type) == (SOURCE, "OrderPlaced")
    assert delivered["detail"] == json.loads(bus_event.detail)
    assert sns["Message"] == bus_event.detail
    placed = read_message(sqs)
    assert (placed.type, placed.version) == ("OrderPlaced", 1)
    assert placed.order["status"] == "PLACED"
    new_image = dynamo.from_image(stream[0]["dynamodb"]["NewImage"])
    assert new_image is not None
    assert (new_image["pk"], new_image["sk"]) == (f"ORDER#{placed.orderId}", "ORDER")
    assert [e["t"] for e in new_image["history"]] == ["OrderPlaced"]


def test_the_sqs_sample_body_matches_its_md5() -> None:
    canned = record("sqs")
    body = canned["body"].encode()
    assert canned["md5OfBody"] == hashlib.md5(body, usedforsecurity=False).hexdigest()


# Chalice's DynamoDBRecord calls datetime.utcfromtimestamp.
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")
def test_chalice_reads_the_samples() -> None:
    (sqs,) = list(SQSEvent(load("sqs"), context=None))
    assert sqs.body == record("sqs")["body"]
    assert sqs.receipt_handle == record("sqs")["receiptHandle"]

    sns = SNSEvent(load("sns"), context=None)
    assert sns.message == record("sns")["Sns"]["Message"]
    assert sns.subject is None

    s3 = S3Event(load("s3"), context=None)
    assert s3.bucket == "eventshop-test-images-123456789012"
    sku, image_id = parse_upload_key(s3.key) or ("", "")
    assert sku == "MUG-1" and len(image_id) == 32

    (stream,) = list(DynamoDBEvent(load("dynamodb"), context=None))
    assert stream.event_name == "INSERT"
    assert stream.table_name == "eventshop-test-orders"
    assert stream.keys == {k: stream.new_image[k] for k in ("pk", "sk")}
    assert stream.timestamp.replace(tzinfo=UTC).year == 2025


def test_a_field_replaces_and_a_mapping_merges() -> None:
    uploaded = record("s3", s3={"object": {"key": "uploads/MUG-1/" + "a" * 32}})
    assert uploaded["s3"]["object"]["key"] == "uploads/MUG-1/" + "a" * 32
    assert uploaded["s3"]["object"]["size"] == record("s3")["s3"]["object"]["size"]
    assert uploaded["s3"]["bucket"] == record("s3")["s3"]["bucket"]
    renamed = record("s3", eventName="ObjectRemoved:Delete")
    assert renamed["eventName"] == "ObjectRemoved:Delete"
    assert renamed["s3"] == record("s3")["s3"]


def test_a_new_body_brings_its_md5_and_drops_the_old_attributes() -> None:
    queued = record("sqs", body="hello")
    assert queued["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert queued["messageAttributes"] == {}
    assert queued["attributes"] == record("sqs")["attributes"]
    kept = record("sqs", body="hello", messageAttributes={"a": {"dataType": "String"}})
    assert kept["messageAttributes"] == {"a": {"dataType": "String"}}
    published = record("sns", Sns={"Message": "hello"})
    assert published["Sns"]["MessageAttributes"] == {}
    assert published["Sns"]["TopicArn"] == record("sns")["Sns"]["TopicArn"]


def test_a_new_image_replaces_the_old_one_and_brings_its_keys() -> None:
    item = {"pk": {"S": "PRODUCT#MUG-1"}, "sk": {"S": "PRODUCT"}, "stock": {"N": "3"}}
    changed = record("dynamodb", eventName="MODIFY", dynamodb={"NewImage": item})
    assert changed["dynamodb"]["NewImage"] == item
    assert changed["dynamodb"]["Keys"] == {"pk": item["pk"], "sk": item["sk"]}
    assert changed["dynamodb"]["SizeBytes"] == len(json.dumps(item))
    assert changed["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert changed["eventName"] == "MODIFY"


def test_batch_makes_one_record_per_entry_and_copies_are_fresh() -> None:
    event = batch("sqs", [{"messageId": "a", "body": "1"}, {"messageId": "b", "body": "2"}])
    assert [(r["messageId"], r["body"]) for r in event["Records"]] == [("a", "1"), ("b", "2")]
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "9"
    assert record("sqs")["attributes"]["ApproximateReceiveCount"] == "1"
    given = {"pk": {"S": "x"}, "sk": {"S": "y"}}
    made = record("dynamodb", dynamodb={"NewImage": given})
    made["dynamodb"]["NewImage"]["pk"]["S"] = "changed"
    assert given["pk"]["S"] == "x"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no canned 'kinesis' event"):
        sample("kinesis")
