"""GET /ops/dead-letters and /ops/dead-letters/{queue}: the stage's DLQs as an
admin sees them, and their messages without consuming them (on moto)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.functional_shop import STAGE, Shop

STEPS = ("inventory", "payments", "shipping", "notify", "analytics")  # every consumer queue


def dlq_url(shop: Shop, name: str) -> str:
    return str(shop.aws("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def purge(shop: Shop, name: str) -> None:
    """Empty the queue (PurgeQueue allows one call a minute)."""
    sqs, url = shop.aws("sqs"), dlq_url(shop, name)
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def queues(shop: Shop) -> dict[str, dict[str, object]]:
    response = shop.call("GET", "/ops/dead-letters", headers=shop.admin())
    assert response.status_code == 200, response.body
    return {q["queue"]: q for q in response.json_body["items"]}


def test_every_dlq_of_the_stage_is_listed_with_its_source(shop: Shop) -> None:
    listed = queues(shop)

    expected = {f"eventshop-{STAGE}-{step}-dlq": f"eventshop-{STAGE}-{step}" for step in STEPS}
    assert {q: listed[q]["source"] for q in expected} == expected
    failures = listed[f"eventshop-{STAGE}-stream-failures"]
    assert str(failures["source"]).split(",") == [
        shop.outputs["OrdersStreamArn"],
        shop.outputs["ProductsStreamArn"],
    ]
    bus = listed[f"eventshop-{STAGE}-bus-dlq"]  # the bus rules' dead-letter target
    assert bus["source"] == f"the rules of the event bus {shop.outputs['EventBusName']}"
    assert len(listed) == len(STEPS) + 2


def test_a_dead_letter_is_counted_and_listed_and_stays(shop: Shop) -> None:
    name = f"eventshop-{STAGE}-payments-dlq"
    purge(shop, name)
    assert queues(shop)[name]["depth"] == 0
    assert queues(shop)[name]["oldestAgeSeconds"] is None
    sqs = shop.aws("sqs")
    sqs.send_message(
        QueueUrl=dlq_url(shop, name),
        MessageBody=json.dumps({"type": "StockReserved", "orderId": "o-1"}),
        MessageAttributes={"type": {"DataType": "String", "StringValue": "StockReserved"}},
    )
    sqs.send_message(QueueUrl=dlq_url(shop, name), MessageBody="not json {")

    summary = queues(shop)[name]
    assert summary["depth"] == 2
    assert isinstance(summary["oldestAgeSeconds"], int) and summary["oldestAgeSeconds"] >= 0

    for _ in range(2):  # reading is not consuming
        response = shop.call("GET", f"/ops/dead-letters/{name}", headers=shop.admin())
        assert response.status_code == 200, response.body
        items = response.json_body["items"]
        assert [m["body"] for m in items] == [
            {"type": "StockReserved", "orderId": "o-1"},
            "not json {",
        ]
        assert items[0]["attributes"] == {"type": "StockReserved"}
        assert items[1]["attributes"] == {}
        assert all(m["reason"] is None and m["receiveCount"] >= 0 for m in items)
        assert len({m["messageId"] for m in items}) == 2
    assert queues(shop)[name]["depth"] == 2
    visible = sqs.get_queue_attributes(
        QueueUrl=dlq_url(shop, name), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert visible["ApproximateNumberOfMessages"] == "2"  # visible again at once
    purge(shop, name)


def test_more_than_ten_dead_letters_are_all_listed(shop: Shop) -> None:
    name = f"eventshop-{STAGE}-notify-dlq"
    purge(shop, name)
    for i in range(23):
        shop.aws("sqs").send_message(QueueUrl=dlq_url(shop, name), MessageBody=json.dumps(i))

    response = shop.call("GET", f"/ops/dead-letters/{name}", headers=shop.admin())

    assert sorted(m["body"] for m in response.json_body["items"]) == list(range(23))
    purge(shop, name)


def test_an_unknown_queue_is_a_404(shop: Shop) -> None:
    for name in (f"eventshop-{STAGE}-payments", "nope", f"eventshop-{STAGE}-payments-dlq-x"):
        response = shop.call("GET", f"/ops/dead-letters/{name}", headers=shop.admin())
        assert response.status_code == 404, (name, response.body)
        assert response.json_body["Code"] == "NotFoundError"


def test_delete_removes_one_dead_letter_and_leaves_the_rest(shop: Shop) -> None:
    name = f"eventshop-{STAGE}-shipping-dlq"
    purge(shop, name)
    sqs = shop.aws("sqs")
    ids = [
        sqs.send_message(QueueUrl=dlq_url(shop, name), MessageBody=json.dumps(i))["MessageId"]
        for i in range(12)
    ]

    gone = shop.call("DELETE", f"/ops/dead-letters/{name}/{ids[10]}", headers=shop.admin())

    assert gone.status_code == 204, gone.body
    listed = shop.call("GET", f"/ops/dead-letters/{name}", headers=shop.admin()).json_body
    assert sorted(m["body"] for m in listed["items"]) == [*range(10), 11]
    assert queues(shop)[name]["depth"] == 11
    again = shop.call("DELETE", f"/ops/dead-letters/{name}/{ids[10]}", headers=shop.admin())
    assert again.status_code == 404, again.body
    assert again.json_body["Message"] == f"{name} holds no message {ids[10]}"
    unknown = shop.call("DELETE", f"/ops/dead-letters/nope/{ids[0]}", headers=shop.admin())
    assert unknown.status_code == 404, unknown.body
    purge(shop, name)


def test_redrive_moves_every_dead_letter_back_to_its_step_queue(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"eventshop-{STAGE}-inventory-dlq"
    purge(shop, name)
    sqs = shop.aws("sqs")
    for i in range(3):
        sqs.send_message(
            QueueUrl=dlq_url(shop, name),
            MessageBody=json.dumps({"n": i, "orderId": f"o-{i % 2}"}),
            MessageAttributes={"type": {"DataType": "String", "StringValue": "OrderPlaced"}},
        )

    with caplog.at_level(logging.INFO, logger="eventshop.ops"):
        response = shop.call(
            "POST",
            f"/ops/dead-letters/{name}/redrive",
            headers={**shop.admin(), "X-Correlation-Id": "t-redrive"},
        )

    assert response.status_code == 202, response.body
    (logged,) = [r for r in caplog.records if "operator redrive" in r.getMessage()]
    assert "['o-0', 'o-1']" in logged.getMessage()  # the orders it gives another chance
    assert getattr(logged, "correlation_id", None) == "t-redrive"
    task = response.json_body
    assert (task["status"], task["moved"], task["toMove"]) == ("COMPLETED", 3, 3)
    assert task["taskHandle"]
    assert queues(shop)[name]["depth"] == 0
    step = dlq_url(shop, f"eventshop-{STAGE}-inventory")
    back = sqs.receive_message(QueueUrl=step, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    assert sorted(json.loads(m["Body"])["n"] for m in back["Messages"]) == [0, 1, 2]
    assert {m["MessageAttributes"]["type"]["StringValue"] for m in back["Messages"]} == {
        "OrderPlaced"
    }
    for m in back["Messages"]:
        sqs.delete_message(QueueUrl=step, ReceiptHandle=m["ReceiptHandle"])

    empty = shop.call("POST", f"/ops/dead-letters/{name}/redrive", headers=shop.admin())
    assert (empty.status_code, empty.json_body["moved"]) == (202, 0)


def test_stream_failures_the_bus_dlq_and_unknown_queues_are_not_redriven(shop: Shop) -> None:
    for queue in ("stream-failures", "bus-dlq"):
        name = f"eventshop-{STAGE}-{queue}"
        refused = shop.call("POST", f"/ops/dead-letters/{name}/redrive", headers=shop.admin())
        assert refused.status_code == 409, refused.body
        assert refused.json_body["Message"].startswith(f"{name} cannot be redriven: it holds")
    unknown = shop.call("POST", "/ops/dead-letters/nope/redrive", headers=shop.admin())
    assert unknown.status_code == 404, unknown.body


def test_a_message_given_up_on_is_listed_with_the_reason_of_its_last_failure(
    shop: Shop,
) -> None:
    """SQS's own redrive (moto, maxReceiveCount 3): each receive goes to the
    step handler as Lambda would pass it; each failure records its reason."""
    sqs, name = shop.aws("sqs"), f"eventshop-{STAGE}-shipping"
    purge(shop, f"{name}-dlq")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison: not JSON")["MessageId"]
    for _ in range(3):
        [got] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])[
            "Messages"
        ]
        record = {
            "messageId": got["MessageId"],
            "receiptHandle": got["ReceiptHandle"],
            "body": got["Body"],
            "attributes": got["Attributes"],
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        }
        result = shop.client.lambda_.invoke("shipping_step", {"Records": [record]}).payload
        assert result == {"batchItemFailures": [{"itemIdentifier": sent}]}
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # moved to the DLQ

    response = shop.call("GET", f"/ops/dead-letters/{name}-dlq", headers=shop.admin())
    assert response.status_code == 200, response.body
    [letter] = response.json_body["items"]
    assert letter["messageId"] == sent
    assert letter["reason"].startswith("unreadable message: ")
    purge(shop, f"{name}-dlq")
