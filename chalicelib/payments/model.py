"""Payments: what a charge or a cancellation came to. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChargeStatus(StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    VOIDED = "VOIDED"  # cancelled before (or while) charging: nothing taken
    # The provider decides later (the customer must authenticate, or the
    # payment is processing): its webhook settles it (``PaymentProviderEvent``).
    PENDING = "PENDING"


class CancelOutcome(StrEnum):
    VOIDED = "VOIDED"  # no charge had started; a late one takes nothing
    REFUNDED = "REFUNDED"  # a capture was given back
    NOTHING = "NOTHING"  # nothing to do (already voided, or nothing captured)


class ClaimState(StrEnum):
    """The payment record's state in the payments table."""

    PENDING = "PENDING"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"


@dataclass(frozen=True)
class ChargeResult:
    """What the provider answered."""

    approved: bool
    charge_id: str | None = None
    reason: str | None = None
    # Neither approved nor declined yet: the provider's webhook says which.
    pending: bool = False


@dataclass(frozen=True)
class PaymentOutcome:
    status: ChargeStatus
    charge_id: str | None = None
    reason: str | None = None
