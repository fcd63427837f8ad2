"""What the payment use cases need: a provider and a claim store (the roles,
not the technology). ``simulated`` implements the provider for the local and
test stages, ``stripe_provider`` the real one; ``dynamo`` the claim store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib.payments.model import ChargeResult
from chalicelib.platform import errors


class ProviderUnavailable(errors.Transient):
    """The provider could not answer; the same request may be retried."""


class PaymentProvider(Protocol):
    def charge(
        self,
        idempotency_key: str,
        amount_cents: int,
        token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ChargeResult:
        """Charge once per key (the order id), whatever is asked again;
        ``metadata`` (customer and correlation ids) goes on the provider's objects."""
        ...

    def refund(self, idempotency_key: str, charge_id: str | None = None) -> bool:
        """Return a capture, once; False if there was none to return."""

    def void(self, idempotency_key: str) -> bool:
        """Make sure no charge for the key can still capture; True if that is
        now certain (nothing was or can be taken), False if the provider
        cannot say (an attempt may be in flight)."""


class PaymentRepository(Protocol):
    def start(
        self, order_id: str, amount_cents: int, attempted_at: float = 0
    ) -> dict[str, Any] | None:
        """Claim the order's payment (PENDING) and stamp ``attemptedAt``;
        return the record as it was if there already is one (a closed claim
        is not touched)."""

    def void_or_get(self, order_id: str) -> dict[str, Any] | None:
        """Write VOIDED if there is no record yet; else return the record."""

    def refunded(self, order_id: str) -> bool:
        """PENDING -> REFUNDED; False if it was not PENDING."""
