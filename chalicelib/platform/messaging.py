"""What the app sends: messages to people and operators (``Publisher``: SNS,
``chalicelib.platform.sns``), and domain events to the other services
(``EventBus``: EventBridge, ``chalicelib.platform.eventbridge``); in-memory
fakes in unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    body: str
    attributes: dict[str, str]
    subject: str | None = None


class Publisher(Protocol):
    def publish(self, topic_arn: str, messages: list[Message]) -> None: ...


@dataclass(frozen=True)
class BusEvent:
    """One domain event on the bus: ``source`` names the context
    (``eventshop.orders``), ``detail_type`` the event (``OrderPlaced``),
    ``detail`` is the event itself as JSON (with its version and correlation id)."""

    source: str
    detail_type: str
    detail: str


class EventBus(Protocol):
    def put(self, events: list[BusEvent]) -> None:
        """Every event is on the bus when this returns; else it raises (and
        some may be on it already: consumers are idempotent)."""
        ...
