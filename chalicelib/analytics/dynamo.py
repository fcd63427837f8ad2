"""The analytics store on DynamoDB (its own table).

Items: ``DAILY / <day>`` (a day's counters), ``PRODUCTS / <sku>`` (a
product's sales: every product's in one partition, so the top sellers are
one Query of it, no index to write) and ``ORDER#<id> / FACT#<kind>`` (the
marker that the fact was counted). The facts of a batch are one transaction: each fact's marker,
put only if absent, and the counters' ADDs summed per day and per product
(one update per item, however many facts touch it), so a redelivered event
changes nothing, a fact never counts half, and a batch of facts pays for its
day's item once. A marker that exists (a redelivery) cancels the
transaction: that fact is dropped and the rest written again. Many orders a
day add to one day item: a transaction that loses to a concurrent one on it
(TransactionConflict) is tried again here a few times before the messages go
back to their queue.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from chalicelib.analytics.model import (
    DayTotals,
    Fact,
    ProductTotals,
    day_change,
    product_changes,
)
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset(
    {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"}
)

DAILY = "DAILY"
PRODUCTS = "PRODUCTS"
ATTEMPTS = 5
MAX_ITEMS = 100  # what one TransactWriteItems may hold
_DAY_COUNTERS = ("orders", "completed", "rejected", "cancelled", "revenueCents", "units")
_PRODUCT_COUNTERS = ("unitsSold", "revenueCents", "orders")


def _adds(values: dict[str, int]) -> dict[str, Any]:
    """An ADD update of ``values`` (counter -> amount)."""
    names = {f"#c{i}": name for i, name in enumerate(values)}
    numbers = {f":v{i}": {"N": str(v)} for i, v in enumerate(values.values())}
    expression = "ADD " + ", ".join(f"#c{i} :v{i}" for i in range(len(values)))
    return {
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": numbers,
    }


def _pause(attempt: int) -> None:
    """Before another try at a transaction that lost a race: jittered backoff."""
    time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not crypto


def _counters(facts: list[Fact]) -> dict[tuple[str, str], dict[str, int]]:
    """What ``facts`` add together, per counter item (its pk, sk)."""
    out: dict[tuple[str, str], dict[str, int]] = {}

    def add(key: tuple[str, str], change: dict[str, int]) -> None:
        totals = out.setdefault(key, {})
        for name, n in change.items():
            totals[name] = totals.get(name, 0) + n

    for fact in facts:
        add((DAILY, fact.day), day_change(fact))
        for sku, change in product_changes(fact).items():
            add((PRODUCTS, sku), change)
    return out


def _chunks(facts: list[Fact]) -> list[list[Fact]]:
    """``facts`` in groups whose transaction (a marker each, one update per
    counter item) fits in MAX_ITEMS."""
    groups: list[list[Fact]] = [[]]
    for fact in facts:
        trial = [*groups[-1], fact]
        if groups[-1] and len(trial) + len(_counters(trial)) > MAX_ITEMS:
            groups.append([fact])
        else:
            groups[-1] = trial
    return [g for g in groups if g]


class DynamoAnalytics(dynamo.DynamoTable):
    def _items(self, facts: list[Fact]) -> list[dict[str, Any]]:
        """The markers first, in the order of ``facts`` (so a cancellation
        reason's index names its fact), then the summed counters."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": f"ORDER#{fact.order_id}"},
                        "sk": {"S": f"FACT#{fact.kind}"},
                        "day": {"S": fact.day},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for fact in facts
        ]
        for (pk, sk), change in _counters(facts).items():
            key = {"pk": {"S": pk}, "sk": {"S": sk}}
            items.append({"Update": {"TableName": self.table, "Key": key, **_adds(change)}})
        return items

    def add(self, fact: Fact) -> bool:
        return self.add_many([fact])[0]

    def add_many(self, facts: list[Fact]) -> list[bool]:
        """Count each of ``facts`` once (a fact twice in the list counts
        once); for each, whether it was counted now."""
        first: dict[tuple[str, str], int] = {}
        for i, fact in enumerate(facts):
            first.setdefault((fact.order_id, fact.kind), i)
        unique = [facts[i] for i in sorted(first.values())]
        counted: set[tuple[str, str]] = set()
        for group in _chunks(unique):
            counted |= {(f.order_id, f.kind) for f in self._write(group)}
        return [
            i == first[(f.order_id, f.kind)] and (f.order_id, f.kind) in counted
            for i, f in enumerate(facts)
        ]

    def _write(self, facts: list[Fact]) -> list[Fact]:
        """One transaction for ``facts``; the ones it counted (those whose
        marker existed are left out, and the rest written again)."""
        pending = list(facts)
        attempt = 0
        while pending:
            try:
                with aws.translate():
                    self.ddb.transact_write_items(TransactItems=self._items(pending))
                return pending
            except errors.Conflict as exc:
                codes = dynamo.cancellation_codes(exc.__cause__ or exc)
                seen = {
                    n
                    for n, code in enumerate(codes[: len(pending)])
                    if code == "ConditionalCheckFailed"
                }
                if seen:
                    pending = [f for n, f in enumerate(pending) if n not in seen]
                    continue  # counted already: a redelivery; the others go on
                attempt += 1
                if attempt == ATTEMPTS:
                    raise errors.Transient(f"analytics write kept conflicting: {codes}") from exc
                _pause(attempt - 1)
        return []

    def _partition(self, pk: str, between: tuple[str, str] | None = None) -> Iterator[Any]:
        """Every item of partition ``pk`` (``between``: sort keys in that
        range), as plain data, one Query page after another."""
        condition, values = "pk = :p", {":p": {"S": pk}}
        if between is not None:
            condition += " AND sk BETWEEN :a AND :b"
            values |= {":a": {"S": between[0]}, ":b": {"S": between[1]}}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        while True:
            with aws.translate():
                page = self.ddb.query(**kwargs)
            yield from (dynamo.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def days(self, first: str, last: str) -> dict[str, DayTotals]:
        out: dict[str, DayTotals] = {}
        for data in self._partition(DAILY, (first, last)):
            day = str(data["sk"])
            out[day] = DayTotals(day, **{c: int(data.get(c, 0)) for c in _DAY_COUNTERS})
        return out

    def product(self, sku: str) -> ProductTotals | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key={"pk": {"S": PRODUCTS}, "sk": {"S": sku}}
            ).get("Item")
        return _product(dynamo.from_item(item)) if item else None

    def every_product(self) -> list[ProductTotals]:
        """Every product sold: one Query of their partition (a page per MB of
        items, some ten thousand products), eventually consistent."""
        return [_product(data) for data in self._partition(PRODUCTS)]


def _product(data: dict[str, Any]) -> ProductTotals:
    return ProductTotals(str(data["sk"]), **{c: int(data.get(c, 0)) for c in _PRODUCT_COUNTERS})
