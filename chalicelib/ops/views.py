"""What the ops routes return, as the OpenAPI document describes it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.platform.alerts import AlertKind


class DeadLetterQueue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(description="the DLQ's name")
    source: str = Field(description="the queue, or the streams (comma-separated), it holds for")
    depth: int = Field(ge=0, description="messages in the DLQ")
    oldestAgeSeconds: int | None = Field(  # noqa: N815
        ge=0, description="age of its oldest message; null when empty"
    )


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messageId: str  # noqa: N815
    body: Any = Field(description="parsed when it is JSON, else the text")
    attributes: dict[str, str] = Field(description="the message attributes' string values")
    receiveCount: int = Field(  # noqa: N815
        ge=0, description="receives before this listing (approximate, as SQS counts)"
    )
    reason: str | None = Field(
        description="the last failure's error class and message, when the handler recorded it"
    )


class Redrive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taskHandle: str  # noqa: N815
    status: str = Field(description="RUNNING, COMPLETED, CANCELLED or FAILED, as SQS reports it")
    moved: int = Field(ge=0, description="messages moved so far")
    toMove: int = Field(ge=0, description="messages the task set out to move")  # noqa: N815


class AlertView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alertId: str = Field(description="names the cause; one record per cause")  # noqa: N815
    kind: AlertKind
    subject: str
    data: dict[str, Any] = Field(description="the alert's facts (order, queue, sku, image ...)")
    at: str = Field(description="when it was raised (ISO-8601 UTC)")
