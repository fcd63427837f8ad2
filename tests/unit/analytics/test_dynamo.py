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
    # Every product's totals in one partition: the top sellers are one Query.
    assert [p["Update"]["Key"] for p in products] == [
        {"pk": {"S": "PRODUCTS"}, "sk": {"S": "A"}},
        {"pk": {"S": "PRODUCTS"}, "sk": {"S": "B"}},
    ]


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


# --- a batch of facts in one write -----------------------------------------------------
PLACED = Fact("o-2", "placed", "2026-03-01", 1, 300, (Line("A", 1, 300),))
OTHER_DAY = Fact("o-3", "completed", "2026-03-02", 1, 500, (Line("A", 1, 500),))


def test_a_batch_is_one_transaction_with_each_counter_item_updated_once() -> None:
    client = Client()
    counted = DynamoAnalytics("t", client=client).add_many([FACT, PLACED, OTHER_DAY])
    assert counted == [True, True, True]
    (items,) = client.calls
    markers = [i["Put"]["Item"]["pk"]["S"] for i in items if "Put" in i]
    assert markers == ["ORDER#o-1", "ORDER#o-2", "ORDER#o-3"]  # first, in the facts' order
    updates = {(i["Update"]["Key"]["pk"]["S"], i["Update"]["Key"]["sk"]["S"]): i for i in items[3:]}
    assert set(updates) == {
        ("DAILY", "2026-03-01"),
        ("DAILY", "2026-03-02"),
        ("PRODUCTS", "A"),
        ("PRODUCTS", "B"),
    }
    # Product A: 2 units from o-1, 1 from o-3, summed into one ADD.
    a = updates[("PRODUCTS", "A")]["Update"]
    sold = {
        a["ExpressionAttributeNames"][n]: a["ExpressionAttributeValues"][v]["N"]
        for n, v in zip(
            sorted(a["ExpressionAttributeNames"]),
            sorted(a["ExpressionAttributeValues"]),
            strict=True,
        )
    }
    assert sold == {"unitsSold": "3", "revenueCents": "1000", "orders": "2"}


def test_a_redelivered_fact_in_a_batch_is_dropped_and_the_rest_written_again() -> None:
    # o-2's marker exists: the transaction is cancelled at its index (1).
    client = Client(cancelled("None", "ConditionalCheckFailed", "None", "None", "None", "None"))
    counted = DynamoAnalytics("t", client=client).add_many([FACT, PLACED, OTHER_DAY])
    assert counted == [True, False, True]
    first, second = client.calls
    assert len([i for i in first if "Put" in i]) == 3
    assert len([i for i in second if "Put" in i]) == 2
    assert "ORDER#o-2" not in str(second)


def test_a_fact_twice_in_one_batch_counts_once() -> None:
    client = Client()
    assert DynamoAnalytics("t", client=client).add_many([FACT, FACT]) == [True, False]
    (items,) = client.calls
    assert len([i for i in items if "Put" in i]) == 1


def test_a_batch_too_big_for_one_transaction_is_split() -> None:
    def lines(n: int) -> tuple[Line, ...]:
        return tuple(Line(f"S{n}-{k:02d}", 1, 10) for k in range(40))

    big = [Fact(f"o-{n}", "completed", "2026-03-01", 40, 400, lines(n)) for n in range(3)]
    client = Client()
    assert DynamoAnalytics("t", client=client).add_many(big) == [True, True, True]
    # Two facts: 2 markers + the day + 80 products; a third would make 124.
    assert [len(c) for c in client.calls] == [2 + 1 + 80, 1 + 1 + 40]
    assert all(len(c) <= analytics_dynamo.MAX_ITEMS for c in client.calls)
