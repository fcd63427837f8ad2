"""Taking payment for an order, at most once, whatever is redelivered.

The payment record (``PAYMENT#orderId`` in the payments table) moves
PENDING -> CAPTURED | DECLINED, CAPTURED -> REFUNDED, or is written VOIDED
when the order was cancelled before any charge, so a late charge request
takes nothing. The provider call itself is idempotent on the order id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import errors
from chalicelib.payments.provider import PaymentProvider


@dataclass(frozen=True)
class PaymentOutcome:
    status: str  # CAPTURED | DECLINED | VOIDED
    charge_id: str | None = None
    reason: str | None = None


class PaymentRepository(Protocol):
    def start(self, order_id: str, amount_cents: int) -> dict[str, Any] | None:
        """Claim the order's payment (PENDING); return the existing record if
        there already is one."""

    def finish(
        self, order_id: str, status: str, charge_id: str | None, reason: str | None
    ) -> None: ...

    def void_or_get(self, order_id: str) -> dict[str, Any] | None:
        """Write VOIDED if there is no record yet; else return the record."""

    def refunded(self, order_id: str) -> bool:
        """CAPTURED -> REFUNDED; False if it was not CAPTURED."""


def _outcome(record: dict[str, Any]) -> PaymentOutcome | None:
    state = record.get("state")
    if state in ("CAPTURED", "DECLINED", "VOIDED", "REFUNDED"):
        charge_id, reason = record.get("chargeId"), record.get("reason")
        return PaymentOutcome(
            "CAPTURED" if state == "REFUNDED" else str(state),
            None if charge_id in (None, "-") else charge_id,
            None if reason in (None, "-") else reason,
        )
    return None


class PaymentService:
    def __init__(self, repo: PaymentRepository, provider: PaymentProvider) -> None:
        self.repo = repo
        self.provider = provider

    def charge(self, order_id: str, amount_cents: int, token: str | None) -> PaymentOutcome:
        existing = self.repo.start(order_id, amount_cents)
        if existing is not None:
            done = _outcome(existing)
            if done is not None:
                return done  # a duplicate delivery, or cancelled before charging
            # PENDING: an earlier attempt died mid-charge. The provider is
            # idempotent on the order id, so asking again cannot charge twice.
        charge_id: str | None = None
        reason: str | None = "no payment token"
        result_status = "DECLINED"
        if token:
            result = self.provider.charge(order_id, amount_cents, token)
            result_status = "CAPTURED" if result.approved else "DECLINED"
            charge_id, reason = result.charge_id, result.reason
        try:
            self.repo.finish(order_id, result_status, charge_id, reason)
        except errors.Conflict:
            pass  # a concurrent duplicate finished first, with the same answer
        return PaymentOutcome(result_status, charge_id, reason)

    def cancel(self, order_id: str) -> str:
        """The order was cancelled: refund a capture, or void a future charge.
        Returns what happened: REFUNDED, VOIDED or NOTHING."""
        existing = self.repo.void_or_get(order_id)
        if existing is None:
            return "VOIDED"
        state = existing.get("state")
        if state == "PENDING":
            raise errors.Transient(f"payment of {order_id} in flight; retry the cancellation")
        if state == "CAPTURED":
            # Refund first (idempotent per order), then record it: a failed
            # refund leaves CAPTURED, so the retried cancellation tries again.
            self.provider.refund(order_id, str(existing.get("chargeId")))
            return "REFUNDED" if self.repo.refunded(order_id) else "NOTHING"
        return "NOTHING"
