"""Taking payment for an order, at most once, whatever is redelivered.

The payment record (``PAYMENT#orderId`` in the payments table) is a claim:
PENDING once a charge may happen, VOIDED when the order was cancelled before
any claim (so a late charge request takes nothing), REFUNDED after a cancel.
The charge's outcome lives with the provider, which is idempotent on the
order id: asking again returns the same answer and charges nothing more. So a
charge costs two requests (claim, provider) and no write-back.
"""

from __future__ import annotations

from chalicelib.payments.model import CancelOutcome, ChargeStatus, ClaimState, PaymentOutcome
from chalicelib.payments.ports import PaymentProvider, PaymentRepository


class PaymentService:
    def __init__(self, repo: PaymentRepository, provider: PaymentProvider) -> None:
        self.repo = repo
        self.provider = provider

    def charge(self, order_id: str, amount_cents: int, token: str | None) -> PaymentOutcome:
        existing = self.repo.start(order_id, amount_cents)
        if existing is not None and existing.get("state") in (
            ClaimState.VOIDED,
            ClaimState.REFUNDED,
        ):
            return PaymentOutcome(ChargeStatus.VOIDED)  # cancelled before (or while) charging
        # New claim, or PENDING from an earlier delivery: the provider is
        # idempotent on the order id, so asking again cannot charge twice.
        if not token:
            return PaymentOutcome(ChargeStatus.DECLINED, reason="no payment token")
        result = self.provider.charge(order_id, amount_cents, token)
        if result.approved:
            return PaymentOutcome(ChargeStatus.CAPTURED, result.charge_id)
        return PaymentOutcome(ChargeStatus.DECLINED, reason=result.reason)

    def cancel(self, order_id: str) -> CancelOutcome:
        """The order was cancelled: void a future charge, or refund a capture.
        Returns VOIDED, REFUNDED or NOTHING. Safe to repeat."""
        existing = self.repo.void_or_get(order_id)
        if existing is None:
            return CancelOutcome.VOIDED
        if existing.get("state") == ClaimState.VOIDED:
            return CancelOutcome.NOTHING
        # Claimed: a charge may have gone through. Refund first (idempotent),
        # then mark; if the refund fails, the retried cancellation tries again.
        refunded = self.provider.refund(order_id, None)
        self.repo.refunded(order_id)
        return CancelOutcome.REFUNDED if refunded else CancelOutcome.NOTHING
