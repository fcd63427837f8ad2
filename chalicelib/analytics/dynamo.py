"""The analytics store on DynamoDB (its own table).

Items: ``DAILY / <day>`` (a day's counters), ``PRODUCT#<sku> / TOTAL`` (a
product's sales) and ``ORDER#<id> / FACT#<kind>`` (the marker that the fact
was counted). A fact is one transaction: the marker, put only if absent,
and the counters' ADDs, so a redelivered event changes nothing and a fact
never counts half. Many orders a day add to one day item: a transaction that
loses to a concurrent one on it (TransactionConflict) is tried again here a
few times before the message goes back to its queue.
"""

from __future__ import annotations

import random
import time
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
ATTEMPTS = 5
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


class DynamoAnalytics(dynamo.DynamoTable):
    def _items(self, fact: Fact) -> list[dict[str, Any]]:
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
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": DAILY}, "sk": {"S": fact.day}},
                    **_adds(day_change(fact)),
                }
            },
        ]
        for sku, change in product_changes(fact).items():
            key = {"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "TOTAL"}}
            items.append({"Update": {"TableName": self.table, "Key": key, **_adds(change)}})
        return items

    def add(self, fact: Fact) -> bool:
        items = self._items(fact)
        attempt = 0
        while True:
            try:
                with aws.translate():
                    self.ddb.transact_write_items(TransactItems=items)
                return True
            except errors.Conflict as exc:
                codes = dynamo.cancellation_codes(exc.__cause__ or exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False  # counted already: a redelivery
                attempt += 1
                if attempt == ATTEMPTS:
                    raise errors.Transient(f"analytics write kept conflicting: {codes}") from exc
                _pause(attempt - 1)

    def days(self, first: str, last: str) -> dict[str, DayTotals]:
        out: dict[str, DayTotals] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":p": {"S": DAILY},
                ":a": {"S": first},
                ":b": {"S": last},
            },
        }
        while True:
            with aws.translate():
                page = self.ddb.query(**kwargs)
            for item in page.get("Items", []):
                data = dynamo.from_item(item)
                day = str(data["sk"])
                out[day] = DayTotals(day, **{c: int(data.get(c, 0)) for c in _DAY_COUNTERS})
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def product(self, sku: str) -> ProductTotals | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table,
                Key={"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "TOTAL"}},
            ).get("Item")
        if not item:
            return None
        data = dynamo.from_item(item)
        return ProductTotals(sku, **{c: int(data.get(c, 0)) for c in _PRODUCT_COUNTERS})
