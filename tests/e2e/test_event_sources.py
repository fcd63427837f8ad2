"""Every kind of event source, delivered end to end through a running stack to
the fixture app's handlers, which journal what they received."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from devstack.client import DrainTimedOut
from devstack.testing import RunningStack

STAGE = "local"


def journal(stack: RunningStack, pk: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").query(
        TableName=f"fixture-{STAGE}-journal",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]
    return [json.loads(i["data"]["S"]) for i in items]


def queue_url(stack: RunningStack, name: str) -> str:
    return str(stack.client("sqs").get_queue_url(QueueName=f"fixture-{STAGE}-{name}")["QueueUrl"])


def send_batch(stack: RunningStack, bodies: list[dict[str, Any]]) -> None:
    stack.client("sqs").send_message_batch(
        QueueUrl=queue_url(stack, "work"),
        Entries=[
            {
                "Id": str(i),
                "MessageBody": json.dumps(b),
                "MessageAttributes": {"origin": {"DataType": "String", "StringValue": "test"}},
            }
            for i, b in enumerate(bodies)
        ],
    )


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_sqs_batch_is_delivered_once_and_deleted(fixture_stack: RunningStack) -> None:
    ids = [f"ok-{uid()}" for _ in range(7)]
    send_batch(fixture_stack, [{"id": i} for i in ids])
    fixture_stack.drain()
    for i in ids:
        (entry,) = journal(fixture_stack, f"sqs#{i}")
        assert entry["receives"] == 1
        assert entry["attributes"]["origin"] == {
            "stringValue": "test",
            "dataType": "String",
            "stringListValues": [],
            "binaryListValues": [],
        }
        assert entry["source"].endswith(f":fixture-{STAGE}-work")
    # one receive, one batch: the batching window gathered all seven
    assert journal(fixture_stack, f"sqs#{ids[0]}")[0]["batch"] == ids
    attrs = fixture_stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(fixture_stack, "work"), AttributeNames=["All"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_partial_batch_failure_redelivers_only_the_failed_record(
    fixture_stack: RunningStack,
) -> None:
    ids = [f"ok-{uid()}" for _ in range(9)]
    flaky = f"flaky-{uid()}"
    send_batch(fixture_stack, [{"id": i} for i in ids] + [{"id": flaky, "mode": "fail-once"}])
    fixture_stack.drain()
    first, second = sorted(journal(fixture_stack, f"sqs#{flaky}"), key=lambda e: e["receives"])
    assert (first["receives"], second["receives"]) == (1, 2)
    assert second["batch"] == [flaky]  # redelivered alone
    for i in ids:
        assert [e["receives"] for e in journal(fixture_stack, f"sqs#{i}")] == [1]


def test_an_exception_retries_the_whole_batch(fixture_stack: RunningStack) -> None:
    calm, boom = f"calm-{uid()}", f"boom-{uid()}"
    send_batch(fixture_stack, [{"id": calm}, {"id": boom, "mode": "raise-once"}])
    fixture_stack.drain()
    assert sorted(e["receives"] for e in journal(fixture_stack, f"sqs#{calm}")) == [1, 2]
    assert sorted(e["receives"] for e in journal(fixture_stack, f"sqs#{boom}")) == [1, 2]


def test_poison_message_goes_to_the_dlq_after_max_receive_count(
    fixture_stack: RunningStack,
) -> None:
    poison = f"poison-{uid()}"
    send_batch(fixture_stack, [{"id": poison, "mode": "poison"}])
    fixture_stack.drain()
    assert sorted(e["receives"] for e in journal(fixture_stack, f"sqs#{poison}")) == [1, 2, 3]
    sqs = fixture_stack.client("sqs")
    dlq = queue_url(fixture_stack, "work-dlq")
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        for m in got:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    assert {"id": poison, "mode": "poison"} in bodies


def test_blueprint_handlers_are_wired(fixture_stack: RunningStack) -> None:
    body = f"side-{uid()}"
    fixture_stack.client("sqs").send_message(
        QueueUrl=queue_url(fixture_stack, "side"), MessageBody=body
    )
    fixture_stack.drain()
    assert len(journal(fixture_stack, f"side#{body}")) == 1


def test_sns_delivers_the_lambda_envelope(fixture_stack: RunningStack) -> None:
    sns = fixture_stack.client("sns")
    arn = f"arn:aws:sns:us-east-1:123456789012:fixture-{STAGE}-topic"
    message = f"hello-{uid()}"
    sns.publish(
        TopicArn=arn,
        Message=message,
        Subject="greeting",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )
    fixture_stack.drain()
    (entry,) = journal(fixture_stack, f"sns#{message}")
    assert entry == {
        "subject": "greeting",
        "type": "Notification",
        "attributes": {"kind": {"Type": "String", "Value": "test"}},
    }


def test_failing_sns_event_is_tried_three_times_then_set_aside(fixture_stack: RunningStack) -> None:
    before = len(journal(fixture_stack, "sns#fail-always"))
    fixture_stack.client("sns").publish(
        TopicArn=f"arn:aws:sns:us-east-1:123456789012:fixture-{STAGE}-topic", Message="fail-always"
    )
    fixture_stack.drain()
    assert len(journal(fixture_stack, "sns#fail-always")) - before == 3
    failures = fixture_stack.control.status()["failures"]
    assert any(f["handler"] == "topic_message" for f in failures)


def test_eventbridge_events_reach_on_cw_event_handlers_by_their_pattern(
    fixture_stack: RunningStack,
) -> None:
    """A rule on the default bus with the handler's pattern (as Chalice
    deploys it): prefix, numeric, anything-but and exists all filter; the
    handler gets the event as EventBridge hands it to Lambda."""
    events = fixture_stack.client("events")
    ids = {name: uid() for name in ("match", "small", "test", "noted", "refund", "fail")}
    details = {
        "match": ({"amount": 11, "channel": "web"}, "OrderPlaced"),
        "small": ({"amount": 10, "channel": "web"}, "OrderPlaced"),
        "test": ({"amount": 50, "channel": "test"}, "OrderPlaced"),
        "noted": ({"amount": 50, "channel": "web", "note": "x"}, "OrderPlaced"),
        "refund": ({"amount": 50, "channel": "web"}, "RefundIssued"),
        "fail": ({"amount": 50, "channel": "web", "fail": True}, "OrderFailed"),
    }
    entries = [
        {
            "Source": "fixture.shop",
            "DetailType": kind,
            "Detail": json.dumps({**detail, "id": ids[name]}),
            "Resources": ["arn:aws:fixture:::thing"],
        }
        for name, (detail, kind) in details.items()
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    fixture_stack.drain()

    (entry,) = journal(fixture_stack, f"cw#{ids['match']}")
    assert entry == {
        "detail_type": "OrderPlaced",
        "source": "fixture.shop",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": ["arn:aws:fixture:::thing"],
        "version": "0",
        "has_time": True,
        "has_id": True,
    }
    for name in ("small", "test", "noted", "refund"):
        assert journal(fixture_stack, f"cw#{ids[name]}") == [], name
    assert len(journal(fixture_stack, f"cw-fail#{ids['fail']}")) == 3  # Lambda's async tries
    failures = fixture_stack.control.status()["failures"]
    assert any(f["handler"] == "shop_event" for f in failures)
    (rule,) = [
        r for r in fixture_stack.control.status()["rules"] if r["name"].endswith("shop_event")
    ]
    assert rule["bus"] == "default" and rule["matched"] >= 2


def test_a_bucket_with_eventbridge_notifications_sends_object_created_to_rules(
    fixture_stack: RunningStack,
) -> None:
    """The template turns the bucket's EventBridge notifications on (which
    the emulator's CloudFormation skips): an on_cw_event rule filtering on
    the bucket and a key prefix gets "Object Created"; its queue
    notifications (s3_object, on in/) keep working beside it."""
    s3 = fixture_stack.client("s3")
    bucket = f"fixture-{STAGE}-bucket-123456789012"
    name = uid()
    s3.put_object(Bucket=bucket, Key=f"events/{name}.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"other/{name}.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"in/{name}.txt", Body=b"x")
    fixture_stack.drain()
    (entry,) = journal(fixture_stack, f"s3-eb#events/{name}.csv")
    assert entry == {"bucket": bucket, "source": "aws.s3", "detail_type": "Object Created"}
    assert journal(fixture_stack, f"s3-eb#other/{name}.csv") == []
    assert len(journal(fixture_stack, f"s3#in/{name}.txt")) == 1


def test_s3_notifications_encode_keys_as_aws_and_honour_filters(
    fixture_stack: RunningStack,
) -> None:
    s3 = fixture_stack.client("s3")
    bucket = f"fixture-{STAGE}-bucket-123456789012"
    name = f"my photo+{uid()}.txt"
    s3.put_object(Bucket=bucket, Key=f"in/{name}", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"other/{name}", Body=b"x")  # prefix filter
    s3.put_object(Bucket=bucket, Key=f"in/{name}.jpg", Body=b"x")  # suffix filter
    fixture_stack.drain()
    (entry,) = journal(fixture_stack, f"s3#in/{name}")
    assert entry["raw_key"] == "in/" + name.replace("+", "%2B").replace(" ", "+")
    assert entry["name"] == "ObjectCreated:Put"
    assert journal(fixture_stack, f"s3#other/{name}") == []
    assert journal(fixture_stack, f"s3#in/{name}.jpg") == []
    s3.delete_object(Bucket=bucket, Key=f"in/{name}")
    fixture_stack.drain()
    names = sorted(e["name"] for e in journal(fixture_stack, f"s3#in/{name}"))
    assert names == ["ObjectCreated:Put", "ObjectRemoved:Delete"]


def test_dynamodb_stream_delivers_new_and_old_images_in_order(fixture_stack: RunningStack) -> None:
    ddb = fixture_stack.client("dynamodb")
    table, key = f"fixture-{STAGE}-items", uid()
    ddb.put_item(TableName=table, Item={"id": {"S": key}, "n": {"N": "1"}})
    ddb.update_item(
        TableName=table,
        Key={"id": {"S": key}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    ddb.delete_item(TableName=table, Key={"id": {"S": key}})
    fixture_stack.drain()
    entries = sorted(journal(fixture_stack, f"ddb#{key}"), key=lambda e: int(e["seq"]))
    assert [e["name"] for e in entries] == ["INSERT", "MODIFY", "REMOVE"]
    assert entries[0]["old"] is None and entries[0]["new"]["n"] == {"N": "1"}
    assert entries[1]["old"]["n"] == {"N": "1"} and entries[1]["new"]["n"] == {"N": "2"}
    assert entries[2]["old"]["n"] == {"N": "2"} and entries[2]["new"] is None


def test_failing_stream_batch_is_retried_then_set_aside_without_blocking_the_shard(
    fixture_stack: RunningStack,
) -> None:
    """The fixture's .chalice/event-source-mappings.json: 3 retries, then the
    stream-failures queue gets the invocation record AWS sends."""
    ddb = fixture_stack.client("dynamodb")
    table, bad, good = f"fixture-{STAGE}-items", uid(), uid()
    ddb.put_item(TableName=table, Item={"id": {"S": bad}, "poison": {"BOOL": True}})
    fixture_stack.drain()
    ddb.put_item(TableName=table, Item={"id": {"S": good}})
    fixture_stack.drain()
    assert len(journal(fixture_stack, f"ddb-poison#{bad}")) == 4  # 1 try + 3 retries
    assert [e["name"] for e in journal(fixture_stack, f"ddb#{good}")] == ["INSERT"]
    status = fixture_stack.control.status()
    assert any(f["kind"] == "dynamodb" for f in status["failures"])
    (source,) = [s for s in status["sources"] if s["handler"] == "item_changed"]
    assert source["iteratorAgeSeconds"] == 0 and source["setAside"] >= 1
    received = fixture_stack.client("sqs").receive_message(
        QueueUrl=queue_url(fixture_stack, "stream-failures"), MaxNumberOfMessages=10
    )
    records = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    # The failure this drain reported: the poison record's sequence number.
    (*_, failure) = [f for f in status["failures"] if f["handler"] == "item_changed"]
    (record,) = [
        r for r in records if [r["DDBStreamBatchInfo"]["startSequenceNumber"]] == failure["detail"]
    ]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 4
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_fifo_queue_drops_a_repeated_send_even_after_the_first_was_handled(
    fixture_stack: RunningStack,
) -> None:
    sqs = fixture_stack.client("sqs")
    url, body = queue_url(fixture_stack, "ordered.fifo"), f"fifo-{uid()}"
    sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body
    )
    fixture_stack.drain()
    sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body
    )
    fixture_stack.drain()
    assert journal(fixture_stack, f"fifo#{body}") == [{"group": "g"}]


def test_a_rate_schedule_fires_once_per_period_of_the_clock(fixture_stack: RunningStack) -> None:
    fixture_stack.drain()
    before = len(journal(fixture_stack, "schedule#every_minute"))
    fixture_stack.control.advance_clock(60)
    fixture_stack.drain()
    assert len(journal(fixture_stack, "schedule#every_minute")) - before == 1
    fixture_stack.control.advance_clock(180)
    fixture_stack.drain()
    fires = journal(fixture_stack, "schedule#every_minute")
    assert len(fires) - before == 4
    times = sorted(f["time"] for f in fires)
    assert len(set(times)) == len(times)  # each fire carries its own scheduled time


def test_drain_times_out_loudly_while_work_is_pending(fixture_stack: RunningStack) -> None:
    send_batch(fixture_stack, [{"id": f"poison-{uid()}", "mode": "poison"}])
    with pytest.raises(DrainTimedOut, match="fixture-local-work"):
        fixture_stack.drain(timeout=0.5)
    fixture_stack.drain()


def test_duplicate_delivery_fault_invokes_every_event_twice(fixture_stack: RunningStack) -> None:
    fixture_stack.control.set_faults(duplicateDeliveries=True)
    try:
        body = f"side-{uid()}"
        fixture_stack.client("sqs").send_message(
            QueueUrl=queue_url(fixture_stack, "side"), MessageBody=body
        )
        fixture_stack.drain()
    finally:
        fixture_stack.control.set_faults(duplicateDeliveries=False)
    assert len(journal(fixture_stack, f"side#{body}")) == 2


def test_every_delivery_is_logged_with_handler_count_and_outcome(
    fixture_stack: RunningStack,
) -> None:
    body = f"side-{uid()}"
    fixture_stack.client("sqs").send_message(
        QueueUrl=queue_url(fixture_stack, "side"), MessageBody=body
    )
    fixture_stack.drain()
    assert any(
        d["handler"] == "side_work" and d["count"] == 1 and d["outcome"] == "ok"
        for d in fixture_stack.control.deliveries()
    )
    assert "deliver sqs      side_work" in fixture_stack.log_text()


def test_emulator_serializes_conditional_writes(fixture_stack: RunningStack) -> None:
    """16 threads race conditional decrements on one item: exactly `stock`
    succeed and the value never goes below zero."""
    ddb = fixture_stack.client("dynamodb")
    table, key, stock = f"fixture-{STAGE}-items", f"race-{uid()}", 40
    ddb.put_item(TableName=table, Item={"id": {"S": key}, "stock": {"N": str(stock)}})
    wins: list[int] = []
    lock = threading.Lock()

    def racer() -> None:
        client = fixture_stack.client("dynamodb")
        for _ in range(10):
            try:
                client.update_item(
                    TableName=table,
                    Key={"id": {"S": key}},
                    UpdateExpression="SET stock = stock - :one",
                    ConditionExpression="stock >= :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue
            with lock:
                wins.append(1)

    threads = [threading.Thread(target=racer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = ddb.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)["Item"]
    assert final["stock"] == {"N": "0"}
    assert len(wins) == stock
    fixture_stack.drain()


def test_the_stack_is_generic_names_the_app_and_counts_only_its_calls(
    fixture_stack: RunningStack,
) -> None:
    """devstack knows no shop: the ready line names the fixture app (from its
    .chalice/config.json), and the calls counted are the app's own (its
    import-time boto3 resource included), never devstack's pollers."""
    assert fixture_stack.app_name == "fixture"
    assert "eventshop" not in fixture_stack.log_text()
    fixture_stack.control.reset_aws_calls()
    ids = [f"ok-{uid()}" for _ in range(3)]
    send_batch(fixture_stack, [{"id": i} for i in ids])
    fixture_stack.drain()
    sent = fixture_stack.control.aws_calls()["sent"]
    assert sent.get("dynamodb.PutItem", 0) >= 3  # one journal entry per message
    assert {op.split(".")[0] for op in sent} == {"dynamodb"}, sent  # no sqs.ReceiveMessage
