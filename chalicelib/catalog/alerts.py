"""The catalog's alerts on SNS: the adapter behind ``AlertPublisher``. The
message's shape (its body, the ``type`` attribute subscribers filter on, a
subject for e-mail) is decided here, by the context that owns it."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.platform.messaging import Message, Publisher


class SnsCatalogAlerts:
    def __init__(self, publisher: Publisher, topic_arn: str) -> None:
        self.publisher = publisher
        self.topic_arn = topic_arn

    def alert(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        self.publisher.publish(self.topic_arn, [alert_message(kind, subject, detail)])


def alert_message(kind: str, subject: str, detail: dict[str, Any]) -> Message:
    return Message(
        body=json.dumps({"type": kind, **detail}), attributes={"type": kind}, subject=subject
    )
