"""Consuming order events from an SQS queue (a bus rule's target): the batch
runner every consumer of the order events shares, the saga's steps and the
read models alike. It reads each record's event (``events.read_message``),
runs the consumer's step under the event's correlation id, and reports the
records that failed, so one poison message never retries its neighbours."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from chalicelib.orders.events import OrderEventMessage, read_message
from chalicelib.platform import correlation
from chalicelib.platform.failures import FailureRecorder, note, reason_of
from chalicelib.platform.metrics import MetricSink
from chalicelib.platform.validation import describe

log = logging.getLogger("eventshop.checkout")


class Consumable(Protocol):
    """What the runner needs of a message: its flow and how to name it."""

    @property
    def correlationId(self) -> str | None: ...  # noqa: N802

    @property
    def orderId(self) -> str: ...  # noqa: N802

    @property
    def type(self) -> Any: ...

    @property
    def version(self) -> Any: ...


M = TypeVar("M", bound=Consumable)


def sqs_batch(
    records: Iterable[Any],
    step: Callable[[M], object],
    failures_log: FailureRecorder | None = None,
    metrics: MetricSink | None = None,
    name: str = "step",
    read: Callable[[dict[str, Any]], M] = read_message,  # type: ignore[assignment]
) -> dict[str, list[dict[str, str]]]:
    """Run ``step`` on each SQS record (read by ``read``: an order event
    unless told otherwise); report the ones that failed, so one poison
    message never retries its neighbours (needs ReportBatchItemFailures).
    Each failure's reason goes to ``failures_log`` (what the DLQ listing shows)."""
    failures = []
    for record in records:
        raw = record.to_dict()
        try:
            message = read(raw)
        except (ValueError, ValidationError) as exc:
            log.error("unreadable message %s: %s", raw.get("messageId"), describe(exc))
            note(failures_log, raw, f"unreadable message: {describe(exc)}")
            failures.append({"itemIdentifier": raw["messageId"]})
            continue
        # Each record runs under its order's flow: its log records, and the
        # events the step appends, carry the order's correlation id.
        with correlation.use(message.correlationId, order_id=message.orderId):
            started = time.perf_counter()
            receive = raw.get("attributes", {}).get("ApproximateReceiveCount")
            try:
                step(message)
                log.info(
                    "%s step: %s v%s of order %s handled (receive %s)",
                    name,
                    message.type,
                    message.version,
                    message.orderId,
                    receive,
                )
            except Exception as exc:
                log.exception(
                    "%s for order %s failed (receive %s)", message.type, message.orderId, receive
                )
                note(failures_log, raw, reason_of(exc))
                failures.append({"itemIdentifier": raw["messageId"]})
            finally:
                if metrics is not None:
                    metrics.ms("SagaStepMs", (time.perf_counter() - started) * 1000, step=name)
    return {"batchItemFailures": failures}


def whole_batch(
    records: Iterable[Any],
    step: Callable[[list[OrderEventMessage]], object],
    failures_log: FailureRecorder | None = None,
    name: str = "step",
    check: Callable[[OrderEventMessage], object] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Run ``step`` ONCE on every readable order event of an SQS batch (one
    write or publish for all of them). A record that is not an order event,
    or that ``check`` refuses (ValueError), fails alone; if ``step`` fails,
    every readable record fails and is retried, so ``step`` must be safe to
    repeat. Each failure's reason goes to ``failures_log``."""
    failures: list[dict[str, str]] = []
    readable: list[tuple[dict[str, Any], OrderEventMessage]] = []
    for record in records:
        raw = record.to_dict()
        try:
            message = read_message(raw)
            if check is not None:
                check(message)
        except (ValueError, ValidationError) as exc:
            log.error("unreadable message %s: %s", raw.get("messageId"), describe(exc))
            note(failures_log, raw, f"unreadable message: {describe(exc)}")
            failures.append({"itemIdentifier": raw["messageId"]})
            continue
        readable.append((raw, message))
    if not readable:
        return {"batchItemFailures": failures}
    try:
        step([m for _, m in readable])
    except Exception as exc:
        log.exception("%s step failed for a batch of %d message(s)", name, len(readable))
        for raw, message in readable:
            with correlation.use(message.correlationId, order_id=message.orderId):
                log.error("%s of order %s: not handled, retried", message.type, message.orderId)
            note(failures_log, raw, reason_of(exc))
            failures.append({"itemIdentifier": raw["messageId"]})
        return {"batchItemFailures": failures}
    for _, message in readable:
        with correlation.use(message.correlationId, order_id=message.orderId):
            log.info("%s step: %s of order %s done", name, message.type, message.orderId)
    return {"batchItemFailures": failures}
