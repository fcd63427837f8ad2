"""Payment records in DynamoDB (``PAYMENT#orderId`` in the payments table).

A claim carries the table's TTL attribute (``expiresAt``, ``CLAIM_TTL_SECONDS``
after it was made), so DynamoDB deletes it instead of a sweep. That is safe
because the claim guards only an order still waiting for its payment: the
payments step reads the order first and charges nothing for one that is past
RESERVED (``checkout.saga.take_payment``), and no order waits that long (the
saga-timeout sweep cancels it after 15 minutes). A redelivery that comes after
the claim is gone finds a finished order and does nothing.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"})

# Longer than anything can redeliver a step's message: SQS keeps a message in a
# DLQ for at most 14 days, and an operator may redrive it on the last one.
CLAIM_TTL_SECONDS = 30 * 24 * 3600


def _expires() -> int:
    return int(time.time()) + CLAIM_TTL_SECONDS


class DynamoPaymentRepository(dynamo.DynamoTable):
    def _key(self, order_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"PAYMENT#{order_id}"}}

    def _get(self, order_id: str) -> dict[str, Any] | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=self._key(order_id), ConsistentRead=True
            ).get("Item")
        return dynamo.from_item(item) if item else None

    def _put_new(self, order_id: str, state: str, amount_cents: int) -> dict[str, Any] | None:
        try:
            with aws.translate():
                self.ddb.put_item(
                    TableName=self.table,
                    Item=dynamo.to_item(
                        {
                            "pk": f"PAYMENT#{order_id}",
                            "state": state,
                            "amountCents": amount_cents,
                            "expiresAt": _expires(),
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except errors.Conflict:
            return self._get(order_id) or {"state": "UNKNOWN"}
        return None

    def start(
        self, order_id: str, amount_cents: int, attempted_at: float = 0
    ) -> dict[str, Any] | None:
        """Claim (or re-claim) the payment and stamp the attempt, in one
        conditional write: a closed claim is returned untouched, so its
        ``attemptedAt`` is final once it is closed."""
        try:
            with aws.translate():
                old = self.ddb.update_item(
                    TableName=self.table,
                    Key=self._key(order_id),
                    UpdateExpression="SET #s = if_not_exists(#s, :pending), "
                    "amountCents = if_not_exists(amountCents, :amt), attemptedAt = :at, "
                    "expiresAt = if_not_exists(expiresAt, :exp)",
                    ConditionExpression="attribute_not_exists(pk) OR #s = :pending",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={
                        ":pending": {"S": "PENDING"},
                        ":amt": {"N": str(amount_cents)},
                        ":at": {"N": str(int(attempted_at))},
                        ":exp": {"N": str(_expires())},
                    },
                    ReturnValues="ALL_OLD",
                ).get("Attributes")
        except errors.Conflict:
            return self._get(order_id) or {"state": "UNKNOWN"}
        return dynamo.from_item(old) if old else None

    def void_or_get(self, order_id: str) -> dict[str, Any] | None:
        return self._put_new(order_id, "VOIDED", 0)

    def refunded(self, order_id: str) -> bool:
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=self._key(order_id),
                    UpdateExpression="SET #s = :refunded",
                    ConditionExpression="#s = :pending",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={
                        ":refunded": {"S": "REFUNDED"},
                        ":pending": {"S": "PENDING"},
                    },
                )
        except errors.Conflict:
            return False
        return True
