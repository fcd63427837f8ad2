"""Consuming order events from an SQS queue (a bus rule's target): the batch
runner every consumer of the order events shares, the saga's steps and the
read models alike. It reads each record's event (``events.read_message``),
runs the consumer's step under the event's correlation id, and reports the
records that failed, so one poison message never retries its neighbours."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from chalicelib.orders.events import OrderEventMessage, read_message
from chalicelib.platform import correlation
from chalicelib.platform.failures import FailureRecorder, note, reason_of
from chalicelib.platform.metrics import MetricSink
from chalicelib.platform.validation import describe

log = logging.getLogger("eventshop.checkout")


def sqs_batch(
    records: Iterable[Any],
    step: Callable[[OrderEventMessage], object],
    failures_log: FailureRecorder | None = None,
    metrics: MetricSink | None = None,
    name: str = "step",
) -> dict[str, list[dict[str, str]]]:
    """Run ``step`` on each SQS record; report the ones that failed, so one
    poison message never retries its neighbours (needs ReportBatchItemFailures).
    Each failure's reason goes to ``failures_log`` (what the DLQ listing shows)."""
    failures = []
    for record in records:
        raw = record.to_dict()
        try:
            message = read_message(raw)
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
