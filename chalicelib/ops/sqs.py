"""The dead-letter store on SQS.

The DLQs are found from the step queues' own redrive policies (the template
is the one place that pairs them), plus the DLQs of other senders given by
name with their source: the stream-failures queue (the streams' on-failure
destination) and the bus DLQ (the domain bus's rules' dead-letter target).
A peek receives with a visibility timeout, then sets every received message
visible again: SQS has no read that leaves messages
untouched, and a DLQ has no redrive policy of its own, so these receives
never move a message anywhere.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from chalicelib.ops.dead_letters import PEEK_LIMIT, DeadLetter, Redrive
from chalicelib.platform import aws, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset(
    {
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        # A redrive: SQS moves the messages with the caller's permissions
        # (receive and delete on the DLQ, send on the source queue).
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
        "sqs:SendMessage",
    }
)

_PEEK_HIDE_SECONDS = 30  # long enough to page through; reset to 0 at once after


class SqsDeadLetters:
    def __init__(self, step_queues: list[str], others: dict[str, str]) -> None:
        """``others``: DLQ name -> what sends to it (no redrive policy names them)."""
        self.step_queues = step_queues
        self.others = others

    @cached_property
    def _queues(self) -> dict[str, str]:
        found = dict(self.others)
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
        seen: dict[str, DeadLetter] = {}
        for message in self._receive_all(queue, limit):
            seen.setdefault(message["MessageId"], _letter(message))
        return sorted(seen.values(), key=lambda m: (m.sent_at, m.message_id))

    def delete(self, queue: str, message_id: str) -> bool:
        """SQS deletes by receipt handle: receive until the message comes by,
        delete it with the handle of that receive; the rest are shown again."""
        for message in self._receive_all(queue, PEEK_LIMIT, until=message_id):
            if message["MessageId"] == message_id:
                with aws.translate():
                    aws.client("sqs").delete_message(
                        QueueUrl=aws.queue_url(queue), ReceiptHandle=message["ReceiptHandle"]
                    )
                return True
        return False

    def redrive(self, queue: str) -> Redrive:
        sqs = aws.client("sqs")
        with aws.translate():
            arn = sqs.get_queue_attributes(
                QueueUrl=aws.queue_url(queue), AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            handle = sqs.start_message_move_task(SourceArn=arn)["TaskHandle"]
            tasks = sqs.list_message_move_tasks(SourceArn=arn, MaxResults=1)["Results"]
        task: dict[str, Any] = next((t for t in tasks if t.get("TaskHandle") == handle), {})
        return Redrive(
            task_handle=str(handle),
            status=str(task.get("Status", "RUNNING")),
            moved=int(task.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=int(task.get("ApproximateNumberOfMessagesToMove", 0)),
        )

    def _receive_all(
        self, queue: str, limit: int, until: str | None = None
    ) -> list[dict[str, Any]]:
        """Receive up to ``limit`` distinct messages (stopping early at the
        id ``until``), then make every one visible again, whatever happens
        to them next (a delete by its handle still works after that)."""
        sqs = aws.client("sqs")
        url = aws.queue_url(queue)
        got_all: list[dict[str, Any]] = []
        ids: set[str] = set()
        try:
            while len(ids) < limit and until not in ids:
                with aws.translate():
                    got = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=min(10, limit - len(ids)),
                        VisibilityTimeout=_PEEK_HIDE_SECONDS,
                        WaitTimeSeconds=0,
                        MessageSystemAttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                if not got:
                    break
                got_all += got
                ids.update(m["MessageId"] for m in got)
        finally:
            _show_again(url, [m["ReceiptHandle"] for m in got_all])
        return got_all


def _letter(message: dict[str, Any]) -> DeadLetter:
    system = dict(message.get("Attributes") or {})
    custom = dict(message.get("MessageAttributes") or {})
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
