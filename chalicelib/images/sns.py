"""Image events on SNS: the adapter behind ``ImageService.publish``."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.platform.messaging import Message, Publisher


class SnsImageEvents:
    """``ImageProcessed``/``ImageFailed``/``ImageRemoved`` with its detail, the
    type as the message attribute subscribers filter on."""

    def __init__(self, publisher: Publisher, topic_arn: str) -> None:
        self.publisher = publisher
        self.topic_arn = topic_arn

    def __call__(self, kind: str, detail: dict[str, Any]) -> None:
        self.publisher.publish(
            self.topic_arn,
            [Message(body=json.dumps({"type": kind, **detail}), attributes={"type": kind})],
        )
