"""Where orders live: the role (``OrderRepository``) and its DynamoDB implementation.

One table, keyed ``pk``/``sk``:
- ``ORDER#id / ORDER``: the current state (plus the payment token until the
  payment is settled), indexed by customer on ``gsi1`` (newest first) and by
  status and last change on ``gsi2`` (the saga-timeout sweep's query);
- ``ORDER#id / EVENT#0001``...: the history, one item per event, never
  rewritten; each carries the order snapshot after it, which the stream relay
  publishes, so consumers need no read;
- ``IDEMPOTENCY#customer#hash``: what an ``Idempotency-Key`` created (TTL 24 h);
- ``ORDER#id / NOTIFIED#type``: customer notifications already sent; TTL'd
  (``expiresAt``, 30 days) like the idempotency keys.
A status change writes the order (conditioned on the expected status and
version) and puts the next event (conditioned on not existing) in ONE
transaction, so the state and its history can never disagree.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.orders.model import Order, OrderEvent, OrderStatus
from chalicelib.orders.ports import (
    IDEMPOTENCY_TTL_SECONDS,
    NOTIFIED_TTL_SECONDS,
    IdempotencyRecord,
    OrderRepository,
    Page,
)
from chalicelib.platform import aws, correlation, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
# TransactWriteItems is authorized per item: Put -> PutItem. Scan serves only
# the operator's replay-orders (devstack), run with the operator's credentials.
AWS_CALLS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
)

__all__ = [
    "IDEMPOTENCY_TTL_SECONDS",
    "DynamoOrderRepository",
    "IdempotencyRecord",
    "OrderRepository",
    "Page",
]

# Statuses in which the payment is not yet settled: the token is still needed.
_TOKEN_STATUSES = frozenset({OrderStatus.PLACED, OrderStatus.RESERVED})


def _idempotency_pk(customer_id: str, key_hash: str) -> str:
    return f"IDEMPOTENCY#{customer_id}#{key_hash}"


def _order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}}


def _event_item(order: Order, event: OrderEvent, token: str | None) -> dict[str, Any]:
    snapshot = order.model_dump(mode="json")
    if token and order.status in _TOKEN_STATUSES:
        snapshot["paymentToken"] = token
    return dynamo.to_item(
        {
            "pk": f"ORDER#{order.orderId}",
            "sk": f"EVENT#{event.version:04d}",
            "orderId": order.orderId,
            "customerId": order.customerId,
            "version": event.version,
            "type": str(event.type),
            "at": event.at,
            "data": event.data,
            "snapshot": snapshot,
            # The flow that appended it (None values are left out of the item).
            "correlationId": correlation.current(),
        }
    )


def _order_item(order: Order, token: str | None) -> dict[str, Any]:
    data = order.model_dump(mode="json")
    data.update(
        pk=f"ORDER#{order.orderId}",
        sk="ORDER",
        gsi1pk=f"CUSTOMER#{order.customerId}",
        gsi1sk=f"{order.createdAt}#{order.orderId}",
        gsi2pk=f"STATUS#{order.status}",
        gsi2sk=f"{order.updatedAt}#{order.orderId}",
    )
    if token and order.status in _TOKEN_STATUSES:
        data["paymentToken"] = token
    return dynamo.to_item(data)


def _to_order(item: dict[str, Any]) -> Order:
    data = dynamo.from_item(item)
    for k in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "paymentToken"):
        data.pop(k, None)
    return Order.model_validate(data)


class DynamoOrderRepository(dynamo.DynamoTable):
    def create(
        self,
        order: Order,
        event: OrderEvent,
        payment_token: str,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _order_item(order, payment_token),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _event_item(order, event, payment_token),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if idempotency is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": dynamo.to_item(
                            {
                                "pk": _idempotency_pk(
                                    idempotency.customer_id, idempotency.key_hash
                                ),
                                "sk": "IDEMPOTENCY",
                                "requestHash": idempotency.request_hash,
                                "orderId": idempotency.order_id,
                                "expiresAt": int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
                            }
                        ),
                        # TTL deletes lazily: an expired record may still be there.
                        "ConditionExpression": "attribute_not_exists(pk) OR expiresAt < :now",
                        "ExpressionAttributeValues": {":now": {"N": str(int(time.time()))}},
                    }
                }
            )
        with aws.translate():
            self.ddb.transact_write_items(TransactItems=items)

    def find_idempotency(self, customer_id: str, key_hash: str) -> IdempotencyRecord | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table,
                ConsistentRead=True,
                Key={
                    "pk": {"S": f"IDEMPOTENCY#{customer_id}#{key_hash}"},
                    "sk": {"S": "IDEMPOTENCY"},
                },
            ).get("Item")
        if not item:
            return None
        data = dynamo.from_item(item)
        # TTL deletion lags by up to days: an expired record is no record.
        if int(data.get("expiresAt", 0)) < time.time():
            return None
        return IdempotencyRecord(customer_id, key_hash, data["requestHash"], data["orderId"])

    def _get_item(self, order_id: str) -> dict[str, Any] | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_order_key(order_id), ConsistentRead=True
            ).get("Item")
        return dict(item) if item else None

    def get(self, order_id: str) -> Order | None:
        item = self._get_item(order_id)
        return _to_order(item) if item else None

    def payment_token(self, order_id: str) -> str | None:
        item = self._get_item(order_id)
        return str(item["paymentToken"]["S"]) if item and "paymentToken" in item else None

    def events(self, order_id: str) -> list[OrderEvent]:
        out: list[OrderEvent] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ev)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"ORDER#{order_id}"},
                ":ev": {"S": "EVENT#"},
            },
        }
        with aws.translate():
            while True:
                page = self.ddb.query(**kwargs)
                for item in page.get("Items", []):
                    d = dynamo.from_item(item)
                    out.append(
                        OrderEvent(
                            version=d["version"], type=d["type"], at=d["at"], data=d.get("data", {})
                        )
                    )
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def append(
        self, before: Order, after: Order, event: OrderEvent, payment_token: str | None = None
    ) -> bool:
        return self.append_many(before, [(event, after)], payment_token)

    def append_many(
        self,
        before: Order,
        steps: list[tuple[OrderEvent, Order]],
        payment_token: str | None = None,
    ) -> bool:
        after = steps[-1][1]
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _order_item(after, payment_token),
                    "ConditionExpression": "#s = :status AND version = :version",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":status": {"S": str(before.status)},
                        ":version": {"N": str(before.version)},
                    },
                }
            }
        ]
        items += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _event_item(state, event, payment_token),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for event, state in steps
        ]
        try:
            with aws.translate():
                self.ddb.transact_write_items(TransactItems=items)
        except errors.Conflict:
            return False
        return True

    def list_for_customer(self, customer_id: str, limit: int, start: dict[str, Any] | None) -> Page:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "Limit": limit,
            "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :c",
            "ExpressionAttributeValues": {":c": {"S": f"CUSTOMER#{customer_id}"}},
        }
        if start:
            if start.get("gsi1pk") != f"CUSTOMER#{customer_id}":
                raise errors.InvalidInput("cursor is not valid for this listing")
            kwargs["ExclusiveStartKey"] = dynamo.to_item(start)
        with aws.translate():
            page = self.ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return Page(
            [_to_order(i) for i in page.get("Items", [])], dynamo.from_item(last) if last else None
        )

    def in_status_since(self, status: OrderStatus, before: str, limit: int) -> list[Order]:
        """Orders in ``status`` whose last change is older than ``before``
        (ISO time), oldest first: a Query on gsi2 (status, updatedAt)."""
        with aws.translate():
            page = self.ddb.query(
                TableName=self.table,
                IndexName="gsi2",
                Limit=limit,
                KeyConditionExpression="gsi2pk = :s AND gsi2sk < :before",
                ExpressionAttributeValues={
                    ":s": {"S": f"STATUS#{status}"},
                    ":before": {"S": before},
                },
            )
        return [_to_order(i) for i in page.get("Items", [])]

    def all_order_ids(self) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :o",
            "ExpressionAttributeValues": {":o": {"S": "ORDER"}},
            "ProjectionExpression": "orderId",
        }
        with aws.translate():
            while True:
                page = self.ddb.scan(**kwargs)
                ids.extend(i["orderId"]["S"] for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return ids
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_notified(self, order_id: str, event_type: str) -> bool:
        now = int(time.time())
        try:
            with aws.translate():
                self.ddb.put_item(
                    TableName=self.table,
                    Item={
                        "pk": {"S": f"ORDER#{order_id}"},
                        "sk": {"S": f"NOTIFIED#{event_type}"},
                        "at": {"N": str(now)},
                        # The table's TTL attribute: DynamoDB deletes it, no sweep.
                        "expiresAt": {"N": str(now + NOTIFIED_TTL_SECONDS)},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except errors.Conflict:
            return False
        return True

    def unmark_notified(self, order_id: str, event_type: str) -> None:
        with aws.translate():
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": f"NOTIFIED#{event_type}"}},
            )
