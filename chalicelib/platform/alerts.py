"""Operator alerts: the one message every context may raise on the ops-alerts
topic, and the role that raises it. The ops context subscribes, records each
alert once (by ``alert_id``) and lists them; an operator may also subscribe an
e-mail address to the topic (see docs/ARCHITECTURE.md).

``alert_id`` names the cause, so that a redelivered or re-raised alert of the
same cause is recorded once: ``SAGA_TIMEOUT#<orderId>``, ``IMAGE_FAILED#<imageId>``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.platform.clock import now_iso
from chalicelib.platform.messaging import Message, Publisher


class AlertKind(StrEnum):
    LOW_STOCK = "LOW_STOCK"
    DEAD_LETTERS = "DEAD_LETTERS"
    SAGA_TIMEOUT = "SAGA_TIMEOUT"
    IMAGE_FAILED = "IMAGE_FAILED"
    # Not raised by the app: what others publish on the topic, recorded by the
    # ops subscriber (a CloudWatch alarm's state change; any other message).
    ALARM = "ALARM"
    MESSAGE = "MESSAGE"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str
    data: dict[str, Any]
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=now_iso)

    def to_message(self) -> Message:
        return Message(
            body=json.dumps(self.to_dict(), separators=(",", ":"), default=str),
            attributes={"kind": self.kind.value},
            subject=self.subject[:100],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "alertId": self.alert_id,
            "kind": self.kind.value,
            "subject": self.subject,
            "data": self.data,
            "at": self.at,
        }


def read_alert(body: str) -> Alert:
    """The alert in a message body; ValueError if it is not one."""
    try:
        raw = json.loads(body)
        if not isinstance(raw, dict) or not isinstance(raw.get("data", {}), dict):
            raise ValueError("an alert is a JSON object with an object 'data'")
        alert_id, subject, at = raw["alertId"], raw["subject"], raw["at"]
        if not all(isinstance(v, str) and v for v in (alert_id, subject, at)):
            raise ValueError("alertId, subject and at are non-empty strings")
        return Alert(AlertKind(raw["kind"]), subject, raw.get("data", {}), alert_id, at)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an alert: {exc}") from exc


class AlertRaiser(Protocol):
    def raise_alert(self, alert: Alert) -> None: ...


class SnsAlerts:
    """Publishes alerts to the ops-alerts topic."""

    def __init__(self, publisher: Publisher, topic_arn: str) -> None:
        self.publisher = publisher
        self.topic_arn = topic_arn

    def raise_alert(self, alert: Alert) -> None:
        self.publisher.publish(self.topic_arn, [alert.to_message()])
