"""What the payment provider told us by webhook, as the payments context puts
it on the domain bus (``source`` ``eventshop.payments``, ``detail-type``
``PaymentProviderEvent``): only what the saga needs, never the provider's
whole payload. Standard library and pydantic only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

SOURCE = "eventshop.payments"
DETAIL_TYPE = "PaymentProviderEvent"


class ProviderEventKind(StrEnum):
    SUCCEEDED = "SUCCEEDED"  # the payment went through (Stripe payment_intent.succeeded)
    FAILED = "FAILED"  # it was declined (payment_intent.payment_failed)
    REFUNDED = "REFUNDED"  # money went back (charge.refunded)


class PaymentProviderEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    provider: str  # "stripe"
    eventId: str  # noqa: N815 - the provider's event id: each is handled once
    kind: ProviderEventKind
    orderId: str  # noqa: N815
    chargeId: str  # noqa: N815 - the provider's payment (a PaymentIntent id)
    amountCents: int | None = None  # noqa: N815
    reason: str | None = None
    correlationId: str | None = None  # noqa: N815
    at: str

    # What the batch runner logs for each message it handles.
    @property
    def type(self) -> str:
        return f"{self.provider} {self.kind.value}"

    @property
    def version(self) -> str:
        return self.eventId
