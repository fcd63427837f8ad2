"""Shapes that exist only on the wire, for the OpenAPI document. Imported when
the document is built, never at cold start."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class Error(BaseModel):
    """Chalice's error body, which every error the app answers keeps."""

    Code: str
    Message: str
    Errors: list[ErrorDetail] = Field(
        default_factory=list, description="present on validation errors"
    )


class GatewayError(BaseModel):
    """API Gateway's own body, e.g. when the token authorizer refuses a token."""

    message: str | None


class UploadPost(BaseModel):
    url: str = Field(description="POST the file here as multipart/form-data")
    fields: dict[str, str] = Field(description="form fields to send before the file")
    expiresAt: str  # noqa: N815 - API field


class UploadSlot(BaseModel):
    imageId: str  # noqa: N815
    upload: UploadPost


class ImportSlot(BaseModel):
    importId: str  # noqa: N815
    upload: UploadPost


class StripeEvent(BaseModel):
    """A Stripe Event as its webhook sends it (only the fields read here)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str = Field(
        description="payment_intent.succeeded, payment_intent.payment_failed, "
        "charge.refunded; any other is acknowledged and ignored"
    )
    created: int
    data: dict[str, Any] = Field(description='{"object": the PaymentIntent or Charge}')


class WebhookReceipt(BaseModel):
    received: bool
    eventId: str  # noqa: N815
    forwarded: bool = Field(description="whether the saga hears of it (a known kind, a shop order)")
