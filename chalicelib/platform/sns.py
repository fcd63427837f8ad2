"""Publishing to SNS: the adapter behind ``chalicelib.platform.messaging.Publisher``."""

from __future__ import annotations

from typing import Any

from chalicelib.platform import aws, errors
from chalicelib.platform.messaging import Message

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"sns:Publish"})  # PublishBatch is authorized as sns:Publish


class SnsPublisher:
    """PublishBatch, ten at a time: one request for a stream batch's events."""

    def publish(self, topic_arn: str, messages: list[Message]) -> None:
        sns = aws.client("sns")
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = []
            for i, m in enumerate(chunk):
                entry: dict[str, Any] = {
                    "Id": str(i),
                    "Message": m.body,
                    "MessageAttributes": {
                        k: {"DataType": "String", "StringValue": v} for k, v in m.attributes.items()
                    },
                }
                if m.subject:
                    entry["Subject"] = m.subject[:100]
                entries.append(entry)
            with aws.translate():
                response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
            if response.get("Failed"):
                raise errors.Transient(
                    f"SNS rejected {len(response['Failed'])} message(s): "
                    f"{response['Failed'][0].get('Message')}"
                )
