"""A small app with one handler of each kind, for testing the event-source
emulator end to end. Every invocation is journaled to DynamoDB so the tests
read back exactly what each handler received, and how often."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import boto3
from chalice.app import Blueprint, Chalice, Rate

app = Chalice(app_name="fixture")
side = Blueprint(__name__)
_journal = boto3.resource("dynamodb").Table(os.environ["JOURNAL_TABLE_NAME"])


def journal(pk: str, **data: Any) -> None:
    _journal.put_item(
        Item={"pk": pk, "sk": f"{time.time_ns()}-{uuid.uuid4().hex[:6]}", "data": json.dumps(data)}
    )


@app.route("/")
def index() -> dict[str, str]:
    return {"app": "fixture"}


@app.on_sqs_message(
    queue=os.environ["WORK_QUEUE_NAME"], batch_size=10, maximum_batching_window_in_seconds=1
)
def work(event: Any) -> dict[str, Any]:
    failures = []
    records = list(event)
    ids = [json.loads(r.body)["id"] for r in records]
    for record in records:
        raw = record.to_dict()
        body = json.loads(record.body)
        receives = int(raw["attributes"]["ApproximateReceiveCount"])
        journal(
            f"sqs#{body['id']}",
            receives=receives,
            batch=ids,
            attributes=raw["messageAttributes"],
            source=raw["eventSourceARN"],
        )
        mode = body.get("mode", "ok")
        if mode == "raise-once" and receives == 1:
            raise RuntimeError("transient failure: the whole batch must come back")
        if mode == "poison" or (mode == "fail-once" and receives == 1):
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


@side.on_sqs_message(queue=os.environ["SIDE_QUEUE_NAME"])
def side_work(event: Any) -> None:
    for record in event:
        journal(f"side#{record.body}")


@app.on_sqs_message(queue=os.environ["ORDERED_QUEUE_NAME"], batch_size=10)
def ordered_work(event: Any) -> None:
    for record in event:
        journal(f"fifo#{record.body}", group=record.to_dict()["attributes"]["MessageGroupId"])


app.register_blueprint(side)


@app.on_sns_message(topic=os.environ["TOPIC_NAME"])
def topic_message(event: Any) -> None:
    record = event.to_dict()["Records"][0]["Sns"]
    if event.message == "fail-always":
        journal("sns#fail-always")
        raise RuntimeError("this SNS message always fails")
    journal(
        f"sns#{event.message}",
        subject=event.subject,
        attributes=record["MessageAttributes"],
        type=record["Type"],
    )


@app.on_s3_event(
    bucket=os.environ["BUCKET_NAME"],
    prefix="in/",
    suffix=".txt",
    events=["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
)
def s3_object(event: Any) -> None:
    raw = event.to_dict()["Records"][0]
    journal(
        f"s3#{event.key}",
        raw_key=raw["s3"]["object"]["key"],
        name=raw["eventName"],
        bucket=event.bucket,
    )


@app.on_dynamodb_record(stream_arn=os.environ["ITEMS_STREAM_ARN"], batch_size=5)
def item_changed(event: Any) -> None:
    for record in event:
        key = record.keys["id"]["S"]
        if (record.new_image or {}).get("poison"):
            journal(f"ddb-poison#{key}")
            raise RuntimeError("a stream record that always fails")
        journal(
            f"ddb#{key}",
            name=record.event_name,
            new=record.new_image,
            old=record.old_image,
            seq=record.sequence_number,
        )


@app.schedule(Rate(1, unit=Rate.MINUTES))
def every_minute(event: Any) -> None:
    journal("schedule#every_minute", time=event.to_dict()["time"])


@app.on_cw_event(
    {
        "source": ["fixture.shop"],
        "detail-type": [{"prefix": "Order"}],
        "detail": {
            "amount": [{"numeric": [">", 10]}],
            "channel": [{"anything-but": "test"}],
            "note": [{"exists": False}],
        },
    }
)
def shop_event(event: Any) -> None:
    if event.detail.get("fail"):
        journal(f"cw-fail#{event.detail['id']}")
        raise RuntimeError("this event always fails")
    journal(
        f"cw#{event.detail['id']}",
        detail_type=event.detail_type,
        source=event.source,
        account=event.account,
        region=event.region,
        resources=event.resources,
        version=event.version,
        has_time=bool(event.time),
        has_id=bool(event.event_id),
    )


@app.on_cw_event(
    {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [os.environ["BUCKET_NAME"]]},
            "object": {"key": [{"prefix": "events/"}]},
        },
    }
)
def s3_via_eventbridge(event: Any) -> None:
    journal(
        f"s3-eb#{event.detail['object']['key']}",
        bucket=event.detail["bucket"]["name"],
        source=event.source,
        detail_type=event.detail_type,
    )
