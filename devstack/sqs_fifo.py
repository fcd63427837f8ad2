"""SQS FIFO semantics moto 5.2 gets wrong, made SQS's in moto's SQS (the
emulator's, and moto's in-process mock for tests):

- **Order within a message group.** SQS hands out no message of a group while
  an earlier one of it is in flight (received, its visibility timeout not run
  out). moto holds a group back while any message of it is merely *pending*
  (received once and not deleted), even one visible again: when a batch of a
  group failed and returns, moto skips its first message for a later one
  (a1, a2 failed; the retry gets a2, a3, then a1). Here a group is held back
  only by messages in flight, so the first message returns first.
- **Deduplication.** SQS accepts and drops a message whose deduplication id
  (``MessageDeduplicationId``, or the body's SHA-256 under
  ``ContentBasedDeduplication``) it was sent in the last 5 minutes, whether
  or not that first message was deleted meanwhile: a producer's retry after
  the consumer was done is still dropped. moto compares only with messages
  still in the queue. Here each FIFO queue remembers the ids sent to it for
  5 minutes (per message group under ``DeduplicationScope: messageGroup``).
  Only sends count: a DLQ redrive moves messages without deduplication.
"""

from __future__ import annotations

import threading
from typing import Any

DEDUPLICATION_MS = 5 * 60 * 1000
_patched = False
_sending = threading.local()  # inside SendMessage / SendMessageBatch


def _in_flight_groups(queue: Any) -> set[str]:
    return {m.group_id for m in queue._pending_messages if m.group_id is not None and not m.visible}


def _first_sent(queue: Any, message: Any) -> bool:
    """Whether ``message`` is not a duplicate of one sent in the interval;
    remembers its id when it is not."""
    seen: dict[tuple[str | None, str], int] = queue.__dict__.setdefault("_devstack_sent_ids", {})
    now = int(message.sent_timestamp)
    for key in [k for k, at in seen.items() if now - at >= DEDUPLICATION_MS]:
        del seen[key]
    scope = message.group_id if queue.deduplication_scope == "messageGroup" else None
    key = (scope, str(message.deduplication_id))
    if key in seen:
        return False
    seen[key] = now
    return True


def patch_fifo() -> None:
    global _patched
    if _patched:
        return
    from moto.sqs.models import Queue, SQSBackend

    send_message = SQSBackend.send_message
    add_message = Queue.add_message

    def sending(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.on = True
        try:
            return send_message(self, *args, **kwargs)
        finally:
            _sending.on = False

    def adding(self: Any, message: Any) -> None:
        deduplicated = getattr(_sending, "on", False) and self.fifo_queue
        # A duplicate is accepted, not delivered: the send is answered as usual.
        if deduplicated and message.deduplication_id and not _first_sent(self, message):
            return
        add_message(self, message)

    Queue.pending_message_groups = property(_in_flight_groups)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = sending  # type: ignore[method-assign]
    Queue.add_message = adding  # type: ignore[method-assign]
    _patched = True
