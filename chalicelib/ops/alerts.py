"""The alert log: every message on the ops-alerts topic, recorded once and
listed newest first.

The topic carries three shapes, and none is dropped:
- the app's own alerts (``chalicelib.platform.alerts``), recorded by their
  ``alertId``, which names the cause: a re-raised or redelivered alert of the
  same cause is recorded once;
- CloudWatch alarm state changes (the stage's alarms publish to the topic):
  kind ``ALARM``, one record per alarm and state change;
- anything else an operator publishes by hand: kind ``MESSAGE``, one record per
  SNS message id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.platform.alerts import Alert, AlertKind, read_alert
from chalicelib.platform.clock import iso

log = logging.getLogger("eventshop.ops")

MAX_TEXT = 4000  # of a hand-published message kept in ``data.text``


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]
    last_key: dict[str, Any] | None


class AlertLog(Protocol):
    def record(self, alert: Alert) -> bool:
        """Store ``alert`` unless one with its id is stored; True if stored now."""
        ...

    def newest(self, limit: int, start: dict[str, Any] | None) -> AlertPage: ...


@dataclass(frozen=True)
class SnsNotice:
    """One SNS message as a subscriber gets it."""

    message: str
    subject: str | None
    message_id: str
    timestamp: str


def _alarm(raw: dict[str, Any]) -> Alert | None:
    """A CloudWatch alarm's state-change notification, or None if it is not one."""
    keys = ("AlarmName", "NewStateValue", "StateChangeTime")
    if not all(isinstance(raw.get(k), str) and raw[k] for k in keys):
        return None
    name, state, changed = (raw[k] for k in keys)
    try:
        at = iso(datetime.strptime(changed, "%Y-%m-%dT%H:%M:%S.%f%z"))
    except ValueError:
        return None
    data = {
        "alarmName": name,
        "state": state,
        "oldState": raw.get("OldStateValue"),
        "reason": raw.get("NewStateReason"),
        "description": raw.get("AlarmDescription"),
    }
    subject = f"{state}: {name}"
    return Alert(AlertKind.ALARM, subject, data, f"ALARM#{name}#{at}", at)


def to_alert(notice: SnsNotice) -> Alert:
    """What ``notice`` records: the app's alert, an alarm, or a plain message."""
    try:
        return read_alert(notice.message)
    except ValueError:
        pass
    try:
        raw = json.loads(notice.message)
    except ValueError:
        raw = None
    alarm = _alarm(raw) if isinstance(raw, dict) else None
    if alarm is not None:
        return alarm
    text = notice.message[:MAX_TEXT]
    subject = notice.subject or text.split("\n", 1)[0][:100] or "(empty message)"
    at = iso(datetime.fromisoformat(notice.timestamp.replace("Z", "+00:00")))
    return Alert(AlertKind.MESSAGE, subject, {"text": text}, f"SNS#{notice.message_id}", at)


class AlertBook:
    def __init__(self, log_: AlertLog) -> None:
        self.log = log_

    def record(self, notice: SnsNotice) -> Alert:
        alert = to_alert(notice)
        if self.log.record(alert):
            log.info("alert %s recorded: %s", alert.alert_id, alert.subject)
        else:
            log.info("alert %s was recorded already", alert.alert_id)
        return alert

    def newest(self, limit: int, start: dict[str, Any] | None) -> AlertPage:
        return self.log.newest(limit, start)
