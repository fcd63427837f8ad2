"""A message to publish, and the role that publishes it (SNS in production,
an in-memory fake in unit tests: see ``chalicelib.platform.sns``)."""

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
