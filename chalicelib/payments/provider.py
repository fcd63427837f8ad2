"""The payment port: what the payment use cases need from a provider.
``chalicelib.payments.simulated`` implements it for the local and test stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib import errors


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    charge_id: str | None = None
    reason: str | None = None


class ProviderUnavailable(errors.Transient):
    """The provider could not answer; the same request may be retried."""


class PaymentProvider(Protocol):
    def charge(self, idempotency_key: str, amount_cents: int, token: str) -> ChargeResult: ...

    def refund(self, idempotency_key: str, charge_id: str | None = None) -> bool:
        """Return a capture, once; False if there was none to return."""
