"""The dead-letter store on SQS.

The DLQs are found from the step queues' own redrive policies (the template
is the one place that pairs them), plus the stream-failures queue, whose
source is the streams. A peek receives with a visibility timeout, then sets
every received message visible again: SQS has no read that leaves messages
untouched, and a DLQ has no redrive policy of its own, so these receives
never move a message anywhere.
"""

from __future__ import annotations

import json
from functools import cached_property

from chalicelib.ops.dead_letters import DeadLetter
from chalicelib.platform import aws, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset(
    {"sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"}
)

_PEEK_HIDE_SECONDS = 30  # long enough to page through; reset to 0 at once after


class SqsDeadLetters:
    def __init__(self, step_queues: list[str], stream_failures: str, streams: str) -> None:
        self.step_queues = step_queues
        self.stream_failures = stream_failures
        self.streams = streams

    @cached_property
    def _queues(self) -> dict[str, str]:
        found = {self.stream_failures: self.streams}
        sqs = aws.client("sqs")
        for name in self.step_queues:
            with aws.translate():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=aws.queue_url(name), AttributeNames=["RedrivePolicy"]
                ).get("Attributes", {})
            policy = json.loads(attrs.get("RedrivePolicy") or "{}")
            target = str(policy.get("deadLetterTargetArn", ""))
            if target:
                found[target.rsplit(":", 1)[-1]] = name
        return found

    def queues(self) -> dict[str, str]:
        return dict(self._queues)

    def depth(self, queue: str) -> int:
        with aws.translate():
            attrs = aws.client("sqs").get_queue_attributes(
                QueueUrl=aws.queue_url(queue),
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def peek(self, queue: str, limit: int) -> list[DeadLetter]:
        sqs = aws.client("sqs")
        url = aws.queue_url(queue)
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        try:
            while len(seen) < limit:
                with aws.translate():
                    got = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=min(10, limit - len(seen)),
                        VisibilityTimeout=_PEEK_HIDE_SECONDS,
                        WaitTimeSeconds=0,
                        MessageSystemAttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                if not got:
                    break
                for message in got:
                    handles.append(message["ReceiptHandle"])
                    seen.setdefault(message["MessageId"], _letter(message))
        finally:
            _show_again(url, handles)
        return sorted(seen.values(), key=lambda m: (m.sent_at, m.message_id))


def _letter(message: dict[str, object]) -> DeadLetter:
    system = dict(message.get("Attributes") or {})  # type: ignore[call-overload]
    custom = dict(message.get("MessageAttributes") or {})  # type: ignore[call-overload]
    return DeadLetter(
        message_id=str(message["MessageId"]),
        body=str(message.get("Body", "")),
        attributes={
            str(k): str(v.get("StringValue", "")) for k, v in custom.items() if isinstance(v, dict)
        },
        # The peek's own receive is not a failure.
        receive_count=max(0, int(system.get("ApproximateReceiveCount", 1)) - 1),
        sent_at=int(system.get("SentTimestamp", 0)) / 1000,
    )


def _show_again(url: str, handles: list[str]) -> None:
    sqs = aws.client("sqs")
    for i in range(0, len(handles), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for n, h in enumerate(handles[i : i + 10])
        ]
        try:
            with aws.translate():
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except errors.DomainError:
            # They come back by themselves after _PEEK_HIDE_SECONDS.
            continue
