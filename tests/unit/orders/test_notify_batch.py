"""The notify step handles a whole SQS batch with one publish."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.orders.notifications import CustomerNotifier, notify_batch
from chalicelib.platform import errors
from tests.support import lambda_events
from tests.support.fakes import FakeOrderRepository


class Record:
    def __init__(self, message_id: str, body: str) -> None:
        self._raw = lambda_events.record("sqs", messageId=message_id, body=body)

    def to_dict(self) -> dict[str, Any]:
        return self._raw


def message(order_id: str, kind: str = "OrderPlaced") -> str:
    return json.dumps(
        {
            "type": kind,
            "orderId": order_id,
            "customerId": "c-1",
            "version": 1,
            "at": "2026-01-01T00:00:00Z",
            "data": {},
            "order": {"orderId": order_id, "customerId": "c-1", "status": "PLACED"},
        }
    )


@pytest.fixture
def sent() -> list[list[tuple[str, str, dict[str, str]]]]:
    return []


def test_one_publish_per_batch_and_the_poison_fails_alone(sent: list[Any]) -> None:
    notifier = CustomerNotifier(FakeOrderRepository(), sent.append)
    records = [
        Record("a", message("o1")),
        Record("b", "{not json"),
        Record("c", message("o2")),
        Record("d", message("o2", "OrderCompleted")),
    ]
    result = notify_batch(records, notifier)
    assert result == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert len(sent) == 1
    assert [json.loads(body)["orderId"] for _, body, _ in sent[0]] == ["o1", "o2", "o2"]
    assert {a["customerId"] for _, _, a in sent[0]} == {"c-1"}
    # redelivered: everything was sent already
    assert notify_batch(records, notifier) == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert len(sent) == 1


def test_a_failed_publish_fails_the_batch_and_the_redelivery_sends_once(sent: list[Any]) -> None:
    calls = {"n": 0}

    def flaky(messages: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise errors.Transient("SNS hiccup")
        sent.append(messages)

    notifier = CustomerNotifier(FakeOrderRepository(), flaky)
    records = [Record("a", message("o1")), Record("c", message("o2"))]
    assert notify_batch(records, notifier) == {
        "batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]
    }
    assert notify_batch(records, notifier) == {"batchItemFailures": []}
    assert [len(batch) for batch in sent] == [2]


def test_a_batch_of_more_than_ten_publishes_ten_a_request_and_a_failed_one_alone_again(
    sent: list[Any],
) -> None:
    """25 milestones: three requests (10, 10, 5). The second fails: the first
    ten stay sent, the redelivery of the whole batch sends the other 15 once."""
    calls = {"n": 0}

    def second_fails(messages: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise errors.Transient("SNS hiccup")
        sent.append(messages)

    notifier = CustomerNotifier(FakeOrderRepository(), second_fails)
    records = [Record(f"m{i}", message(f"o{i}")) for i in range(25)]

    failed = notify_batch(records, notifier)["batchItemFailures"]
    assert len(failed) == 25  # the step failed: the whole batch comes back
    assert [len(batch) for batch in sent] == [10]
    assert notify_batch(records, notifier) == {"batchItemFailures": []}

    assert [len(batch) for batch in sent] == [10, 10, 5]
    ids = [json.loads(body)["orderId"] for batch in sent for _, body, _ in batch]
    assert sorted(ids) == sorted(f"o{i}" for i in range(25))  # each once
