"""Taking payment for an order, at most once, whatever is redelivered.

The payment record (``PAYMENT#orderId`` in the payments table) is a claim:
PENDING once a charge may happen, VOIDED when the order was cancelled before
any claim (so a late charge request takes nothing), REFUNDED after a cancel.
The charge's outcome lives with the provider, which is idempotent on the
order id: asking again returns the same answer and charges nothing more. So a
charge costs two requests (claim, provider) and no write-back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.payments.model import CancelOutcome, ChargeStatus, ClaimState, PaymentOutcome
from chalicelib.payments.ports import PaymentProvider, PaymentRepository
from chalicelib.platform import correlation

# A charge attempt that began longer ago than this has ended, one way or the
# other: it is longer than the payment function's timeout (60 s, .chalice/config.json).
IN_FLIGHT_SECONDS = 180


class PaymentService:
    def __init__(
        self,
        repo: PaymentRepository,
        provider: PaymentProvider,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.provider = provider
        self.clock = clock

    def charge(
        self, order_id: str, amount_cents: int, token: str | None, customer_id: str = ""
    ) -> PaymentOutcome:
        existing = self.repo.start(order_id, amount_cents, self.clock())
        if existing is not None and existing.get("state") in (
            ClaimState.VOIDED,
            ClaimState.REFUNDED,
        ):
            return PaymentOutcome(ChargeStatus.VOIDED)  # cancelled before (or while) charging
        # New claim, or PENDING from an earlier delivery: the provider is
        # idempotent on the order id, so asking again cannot charge twice.
        if not token:
            return PaymentOutcome(ChargeStatus.DECLINED, reason="no payment token")
        # What lets a person find the order from the provider's dashboard.
        metadata = {"customer_id": customer_id, "correlation_id": correlation.current() or ""}
        result = self.provider.charge(
            order_id, amount_cents, token, {k: v for k, v in metadata.items() if v}
        )
        if result.approved:
            return PaymentOutcome(ChargeStatus.CAPTURED, result.charge_id)
        if result.pending:
            return PaymentOutcome(ChargeStatus.PENDING, result.charge_id)
        return PaymentOutcome(ChargeStatus.DECLINED, reason=result.reason)

    def cancel(
        self, order_id: str, cancelled_at: float | None = None, charge_id: str | None = None
    ) -> CancelOutcome:
        """The order was cancelled (at ``cancelled_at``, epoch seconds; now if
        None): void a future charge, or refund a capture. Returns VOIDED,
        REFUNDED or NOTHING. Safe to repeat.

        NOTHING means a charge attempt may still be running and may yet
        capture: its delivery settles the order. When the last attempt began
        more than IN_FLIGHT_SECONDS before the cancel, none can be running (a
        charge whose message died in a DLQ, a saga timed out): nothing was
        taken and nothing can be, so the outcome is VOIDED."""
        existing = self.repo.void_or_get(order_id)
        if existing is None:
            return CancelOutcome.VOIDED
        if existing.get("state") == ClaimState.VOIDED:
            return CancelOutcome.NOTHING
        # Claimed: a charge may have gone through. Close the claim first, so
        # no new attempt starts; its last attempt's time is then final. If the
        # refund fails, the retried cancellation tries again.
        self.repo.refunded(order_id)
        final = self.repo.void_or_get(order_id) or existing
        if self.provider.refund(order_id, charge_id):
            return CancelOutcome.REFUNDED
        if self.provider.void(order_id):
            return CancelOutcome.VOIDED  # the provider says none can capture now
        when = self.clock() if cancelled_at is None else cancelled_at
        if when - float(final.get("attemptedAt", 0)) > IN_FLIGHT_SECONDS:
            return CancelOutcome.VOIDED
        return CancelOutcome.NOTHING
