"""Why a message failed: the handler that could not process a message records
the error (class and message) under the message's id, so an operator reading
the dead-letter queue sees why each message is there (``GET
/ops/dead-letters/{queue}``). Every failure overwrites the last, so when SQS
moves a message to its DLQ the reason is that of its final receive.

The recorder is a role (the ops context stores the reasons); recording is
best effort: a recorder that fails is logged, never raised, so it cannot turn
one failure into another.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("eventshop.failures")

MAX_REASON = 1000


class FailureRecorder(Protocol):
    def record(self, message_id: str, queue: str, reason: str) -> None: ...


def reason_of(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_REASON]


def note(recorder: FailureRecorder | None, record: dict[str, Any], reason: str) -> None:
    """Record ``reason`` for an SQS record (its ``messageId``, and the queue
    from its ``eventSourceARN``); never raises."""
    if recorder is None:
        return
    queue = str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1]
    try:
        recorder.record(str(record.get("messageId", "")), queue, reason[:MAX_REASON])
    except Exception:  # noqa: BLE001 - best effort, see the module docstring
        log.warning("could not record why message %s failed", record.get("messageId"))
