"""The analytics adapter's write: a redelivered fact (its marker exists) is
no change; a transaction that lost to a concurrent one is tried again."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.analytics import dynamo as analytics_dynamo
from chalicelib.analytics.dynamo import DynamoAnalytics
from chalicelib.analytics.model import Fact, Line
from chalicelib.platform import errors

FACT = Fact("o-1", "completed", "2026-03-01", 3, 700, (Line("A", 2, 500), Line("B", 1, 200)))


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": c} for c in codes],
        },
        "TransactWriteItems",
    )


class Client:
    def __init__(self, *outcomes: ClientError | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(TransactItems)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return {}


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics_dynamo, "_pause", lambda attempt: None)


def test_one_transaction_the_marker_the_day_and_each_product() -> None:
    client = Client()
    assert DynamoAnalytics("t", client=client).add(FACT) is True
    (items,) = client.calls
    marker, day, *products = items
    assert marker["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert marker["Put"]["Item"]["sk"] == {"S": "FACT#completed"}
    assert day["Update"]["Key"] == {"pk": {"S": "DAILY"}, "sk": {"S": "2026-03-01"}}
    assert [p["Update"]["Key"]["pk"]["S"] for p in products] == ["PRODUCT#A", "PRODUCT#B"]


def test_a_fact_counted_already_changes_nothing() -> None:
    client = Client(cancelled("ConditionalCheckFailed", "None", "None", "None"))
    assert DynamoAnalytics("t", client=client).add(FACT) is False
    assert len(client.calls) == 1


def test_a_transaction_that_lost_a_race_is_tried_again() -> None:
    client = Client(
        cancelled("None", "TransactionConflict"), cancelled("None", "TransactionConflict")
    )
    assert DynamoAnalytics("t", client=client).add(FACT) is True
    assert len(client.calls) == 3


def test_a_write_that_keeps_losing_goes_back_to_its_queue() -> None:
    client = Client(*[cancelled("None", "TransactionConflict")] * 5)
    with pytest.raises(errors.Transient, match="kept conflicting"):
        DynamoAnalytics("t", client=client).add(FACT)
    assert len(client.calls) == 5
