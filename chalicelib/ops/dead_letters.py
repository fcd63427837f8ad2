"""Dead letters an operator can see: the model, the port, and the use case.

A dead-letter queue is one of the stage's own: the DLQ of a saga step's queue
(found from the step queue's redrive policy) or the stream-failures queue. An
operator lists them with their depth and the age of their oldest message,
and reads one's messages without consuming them (a peek: received, then
made visible again at once).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

from chalicelib.platform import errors
from chalicelib.platform.alerts import Alert, AlertKind, AlertRaiser
from chalicelib.platform.metrics import MetricSink, NoMetrics

PEEK_LIMIT = 100  # messages one listing returns; ``depth`` gives the total

log = logging.getLogger("eventshop.ops")


@dataclass(frozen=True)
class DeadLetterQueue:
    queue: str  # the DLQ's name
    source: str  # the queue, or the streams, whose failures it holds
    depth: int
    oldest_age_seconds: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "source": self.source,
            "depth": self.depth,
            "oldestAgeSeconds": self.oldest_age_seconds,
        }


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    attributes: dict[str, str]
    receive_count: int
    sent_at: float  # epoch seconds
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "body": parse_body(self.body),
            "attributes": self.attributes,
            "receiveCount": self.receive_count,
            "reason": self.reason,
        }


def parse_body(body: str) -> Any:
    """The body as JSON when it is JSON, else the text as it came."""
    try:
        return json.loads(body)
    except ValueError:
        return body


@dataclass(frozen=True)
class Redrive:
    """A message move task: SQS runs it on its own; the caller polls the DLQ."""

    task_handle: str
    status: str  # RUNNING, COMPLETED, CANCELLED or FAILED, as SQS says
    moved: int
    to_move: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "taskHandle": self.task_handle,
            "status": self.status,
            "moved": self.moved,
            "toMove": self.to_move,
        }


class DeadLetterStore(Protocol):
    def queues(self) -> dict[str, str]:
        """The stage's DLQs: name -> source."""

    def depth(self, queue: str) -> int: ...

    def peek(self, queue: str, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages, oldest first, left in the queue."""

    def delete(self, queue: str, message_id: str) -> bool:
        """Delete one message by its id; False if the queue does not hold it."""

    def redrive(self, queue: str) -> Redrive:
        """Move every message back to the queue it failed in."""


class Depths(Protocol):
    def swap(self, queue: str, depth: int, at: str) -> int:
        """Record this run's depth; return the previous run's (0 at first)."""


class Reasons(Protocol):
    def reasons(self, message_ids: list[str]) -> dict[str, str]:
        """The recorded failure reason of each message id that has one."""
        ...


class DeadLetterService:
    def __init__(
        self,
        store: DeadLetterStore,
        now: Any,
        unredrivable: dict[str, str],
        depths: Depths,
        alerts: AlertRaiser,
        reasons: Reasons,
        metrics: MetricSink | None = None,
    ) -> None:
        self.reasons = reasons
        self.metrics: MetricSink = metrics or NoMetrics()
        self.store = store
        self.now = now  # () -> epoch seconds
        # DLQ name -> why a redrive cannot send its messages back anywhere.
        self.unredrivable = unredrivable
        self.depths = depths
        self.alerts = alerts

    def watch(self, at: str) -> list[str]:
        """One watcher run (every 5 minutes): a DEAD_LETTERS alert for each DLQ
        deeper than at the previous run. Returns the queues it alerted on."""
        grew = []
        for queue, source in sorted(self.store.queues().items()):
            depth = self.store.depth(queue)
            before = self.depths.swap(queue, depth, at)
            if depth > before:
                grew.append(queue)
                self.metrics.count("DeadLetters", depth - before)
                self.alerts.raise_alert(
                    Alert(
                        AlertKind.DEAD_LETTERS,
                        f"{queue}: {depth} dead letters (was {before})",
                        {"queue": queue, "source": source, "depth": depth, "previous": before},
                        alert_id=f"DEAD_LETTERS#{queue}#{at}",
                    )
                )
        return grew

    def list_queues(self) -> list[DeadLetterQueue]:
        found = []
        for queue, source in sorted(self.store.queues().items()):
            depth = self.store.depth(queue)
            oldest = None
            if depth:
                letters = self.store.peek(queue, PEEK_LIMIT)
                if letters:
                    first = min(m.sent_at for m in letters)
                    oldest = max(0, int(self.now() - first))
            found.append(DeadLetterQueue(queue, source, depth, oldest))
        return found

    def _known(self, queue: str) -> str:
        if queue not in self.store.queues():
            raise errors.NotFound(f"no dead-letter queue named {queue}")
        return queue

    def messages(self, queue: str) -> list[DeadLetter]:
        letters = self.store.peek(self._known(queue), PEEK_LIMIT)
        why = self.reasons.reasons([m.message_id for m in letters]) if letters else {}
        return [replace(m, reason=why.get(m.message_id, m.reason)) for m in letters]

    def delete(self, queue: str, message_id: str) -> None:
        if not self.store.delete(self._known(queue), message_id):
            raise errors.NotFound(f"{queue} holds no message {message_id}")
        log.info("operator deleted dead letter %s from %s", message_id, queue)

    def redrive(self, queue: str) -> Redrive:
        why = self.unredrivable.get(self._known(queue))
        if why is not None:
            raise errors.Conflict(f"{queue} cannot be redriven: {why}")
        # Which orders it gives another chance (the first PEEK_LIMIT messages'),
        # in the operator's request's log, under its correlation id.
        orders = order_ids(self.store.peek(queue, PEEK_LIMIT))
        task = self.store.redrive(queue)
        log.info(
            "operator redrive of %s: task %s moving %d message(s); orders %s",
            queue,
            task.task_handle,
            task.to_move,
            orders,
        )
        return task


def order_ids(letters: list[DeadLetter]) -> list[str]:
    """The order ids the messages are about (saga envelopes name them), once each."""
    found: dict[str, None] = {}
    for letter in letters:
        body = parse_body(letter.body)
        if isinstance(body, dict) and isinstance(body.get("orderId"), str):
            found[body["orderId"]] = None
    return list(found)
