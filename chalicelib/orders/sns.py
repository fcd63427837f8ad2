"""Customer notifications on SNS: the adapter behind ``CustomerNotifier.send``."""

from __future__ import annotations

from chalicelib.platform.messaging import Message, Publisher


class SnsCustomerMessages:
    """One publish for a batch of (subject, body, attributes)."""

    def __init__(self, publisher: Publisher, topic_arn: str) -> None:
        self.publisher = publisher
        self.topic_arn = topic_arn

    def __call__(self, messages: list[tuple[str, str, dict[str, str]]]) -> None:
        self.publisher.publish(
            self.topic_arn,
            [
                Message(body=body, attributes=attributes, subject=subject)
                for subject, body, attributes in messages
            ],
        )
