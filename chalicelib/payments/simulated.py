"""The simulated payment provider of the local and test stages (API.md).

``tok_ok`` approves; ``tok_declined`` declines; ``tok_flaky`` fails transiently
twice for an order, then approves; ``tok_unavailable`` fails transiently on
every call (the provider never answers); any other token declines. Idempotent on its
key (the order id), like real providers, and it counts captures, so tests can
prove one charge per order. Its ledger is ``SIMULATED#<key>`` in the payments table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from chalicelib.payments.model import ChargeResult
from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:GetItem", "dynamodb:UpdateItem"})


def _opt(value: Any) -> str | None:
    return None if value in (None, "-") else str(value)


def _decide(token: str, attempts: int) -> ChargeResult | None:
    if token == "tok_ok":
        return ChargeResult(True)
    if token == "tok_declined":
        return ChargeResult(False, reason="card declined")
    if token == "tok_flaky":
        return ChargeResult(True) if attempts > 2 else None
    return ChargeResult(False, reason="payment token not recognised")


class SimulatedProvider(dynamo.DynamoTable):
    """Keeps its ledger in the payments table under ``SIMULATED#<key>``."""

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"SIMULATED#{key}"}}

    def charge(
        self,
        idempotency_key: str,
        amount_cents: int,
        token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ChargeResult:
        if token == "tok_unavailable":
            raise ProviderUnavailable("simulated provider: not answering (tok_unavailable)")
        if token != "tok_flaky":
            return self._charge_once(idempotency_key, amount_cents, token)
        with aws.translate():
            item = self.ddb.update_item(
                TableName=self.table,
                Key=self._key(idempotency_key),
                UpdateExpression="ADD attempts :one",
                ReturnValues="ALL_NEW",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )["Attributes"]
        data = dynamo.from_item(item)
        if "approved" in data:  # the same request again: the same answer
            return ChargeResult(
                bool(data["approved"]), _opt(data.get("chargeId")), _opt(data.get("reason"))
            )
        decision = _decide(token, int(data["attempts"]))
        if decision is None:
            raise ProviderUnavailable("simulated provider: temporarily unavailable")
        charge_id = (
            "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
            if decision.approved
            else None
        )
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=self._key(idempotency_key),
                    UpdateExpression="SET approved = :a, chargeId = :c, reason = :r, "
                    "amountCents = :amt ADD captures :n",
                    ConditionExpression="attribute_not_exists(approved)",
                    ExpressionAttributeValues={
                        ":a": {"BOOL": decision.approved},
                        ":c": {"S": charge_id or "-"},
                        ":r": {"S": decision.reason or "-"},
                        ":amt": {"N": str(amount_cents)},
                        ":n": {"N": "1" if decision.approved else "0"},
                    },
                )
        except errors.Conflict:
            return self.charge(idempotency_key, amount_cents, token)  # a concurrent twin won
        return ChargeResult(decision.approved, charge_id, decision.reason)

    def _charge_once(self, key: str, amount_cents: int, token: str) -> ChargeResult:
        """A token whose answer does not depend on history: one request. The
        first answer sticks (if_not_exists), so a repeat captures nothing."""
        decision = _decide(token, 1)
        assert decision is not None
        charge_id = (
            "ch_" + hashlib.sha256(key.encode()).hexdigest()[:16] if decision.approved else "-"
        )
        with aws.translate():
            item = self.ddb.update_item(
                TableName=self.table,
                Key=self._key(key),
                ReturnValues="ALL_NEW",
                UpdateExpression="SET approved = if_not_exists(approved, :a), "
                "chargeId = if_not_exists(chargeId, :c), reason = if_not_exists(reason, :r), "
                "amountCents = if_not_exists(amountCents, :amt), "
                "captures = if_not_exists(captures, :n) ADD attempts :one",
                ExpressionAttributeValues={
                    ":a": {"BOOL": decision.approved},
                    ":c": {"S": charge_id},
                    ":r": {"S": decision.reason or "-"},
                    ":amt": {"N": str(amount_cents)},
                    ":n": {"N": "1" if decision.approved else "0"},
                    ":one": {"N": "1"},
                },
            )["Attributes"]
        data = dynamo.from_item(item)
        return ChargeResult(
            bool(data["approved"]), _opt(data.get("chargeId")), _opt(data.get("reason"))
        )

    def refund(self, idempotency_key: str, charge_id: str | None = None) -> bool:
        """Give a capture back, once; False if nothing was captured (or it
        already went back)."""
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=self._key(idempotency_key),
                    UpdateExpression="SET refunded = :t",
                    ConditionExpression="approved = :t AND attribute_not_exists(refunded)",
                    ExpressionAttributeValues={":t": {"BOOL": True}},
                )
        except errors.Conflict:
            return False
        return True

    def void(self, idempotency_key: str) -> bool:
        """A simulated charge is a running step: this provider cannot know
        whether one is in flight (PaymentService's in-flight window decides)."""
        return False

    def captures(self, idempotency_key: str) -> int:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=self._key(idempotency_key), ConsistentRead=True
            ).get("Item")
        return int(dynamo.from_item(item).get("captures", 0)) if item else 0
