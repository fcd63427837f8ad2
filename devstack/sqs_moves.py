"""SQS message move tasks (a DLQ redrive), which moto does not implement.

``StartMessageMoveTask`` and ``ListMessageMoveTasks`` are added to moto's SQS
(the emulator's, and moto's in-process mock for tests), with SQS's semantics,
so an app's redrive runs the same code against the local stack as on AWS:

- the source must be a dead-letter queue: some queue's redrive policy names
  it (``InvalidParameterValue`` otherwise; an unknown queue is
  ``AWS.SimpleQueueService.NonExistentQueue``);
- without ``DestinationArn`` the messages go back to the queue whose redrive
  policy names the DLQ (AWS uses each message's original source; a DLQ shared
  by several queues therefore needs a ``DestinationArn`` here);
- every available message moves as a new message (new id, receive count 0,
  attributes kept); in-flight ones stay. The task runs at once, inside the
  emulator's lock, so it is COMPLETED by the time the call returns.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

_patched = False
# source ARN -> its tasks, newest first (one emulator process, one dict)
_TASKS: dict[str, list[dict[str, Any]]] = {}


def _queue(backend: Any, arn: str) -> Any:
    from moto.sqs.exceptions import QueueDoesNotExist

    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise QueueDoesNotExist()


def _move(backend: Any, dlq: Any, destination: Any) -> int:
    available = list(dlq.messages)
    with dlq._messages_lock:
        dlq._messages = [m for m in dlq._messages if m not in available]
    for message in available:
        backend.send_message(
            destination.name, message.body, message_attributes=dict(message.message_attributes)
        )
    return len(available)


def start_message_move_task(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue

    backend = self.sqs_backend
    source_arn = str(self._get_param("SourceArn") or "")
    dlq = _queue(backend, source_arn)
    sources = [q for q in backend.queues.values() if q.dead_letter_queue is dlq]
    if not sources:
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    destination_arn = self._get_param("DestinationArn")
    if destination_arn:
        destination = _queue(backend, str(destination_arn))
    elif len(sources) == 1:
        destination = sources[0]
    else:
        raise InvalidParameterValue("devstack: this DLQ serves several queues; name DestinationArn")
    moved = _move(backend, dlq, destination)
    handle = base64.b64encode(
        json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn}).encode()
    ).decode()
    task = {
        "TaskHandle": handle,
        "Status": "COMPLETED",
        "SourceArn": source_arn,
        "DestinationArn": destination.queue_arn,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": moved,
        "StartedTimestamp": int(time.time() * 1000),
    }
    _TASKS.setdefault(source_arn, []).insert(0, task)
    return ActionResult({"TaskHandle": handle})


def list_message_move_tasks(self: Any) -> Any:
    from moto.core.responses import ActionResult

    source_arn = str(self._get_param("SourceArn") or "")
    _queue(self.sqs_backend, source_arn)
    limit = int(self._get_param("MaxResults") or 1)
    return ActionResult({"Results": _TASKS.get(source_arn, [])[:limit]})


def patch_message_moves() -> None:
    global _patched
    if _patched:
        return
    from moto.sqs.responses import SQSResponse

    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_message_move_tasks  # type: ignore[attr-defined]
    _patched = True
