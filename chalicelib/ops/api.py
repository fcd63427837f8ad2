"""The operations blueprint: scheduled jobs that keep the sagas moving, and
the dead letters an admin can see."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.request import RequestReader
from chalicelib.http.routing import Router

bp = Blueprint(__name__)
api = Router(bp)
request = RequestReader(bp)
settings = bootstrap.settings()


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def time_out_stuck_sagas(event: Any) -> None:
    """Every 5 minutes: compensate the orders whose saga stopped moving."""
    from datetime import datetime

    from chalicelib.platform import correlation

    # "now" is the scheduled event's time: on the local stack, its clock.
    now = datetime.fromisoformat(event.to_dict()["time"].replace("Z", "+00:00"))
    # A run is a flow of its own: its log lines, and the cancels it appends
    # (so the compensations that follow), carry the run's id.
    with correlation.use(None):
        bootstrap.services().ops.sweep_stuck_sagas(now)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def watch_dead_letters(event: Any) -> None:
    """Every 5 minutes: a DEAD_LETTERS alert for each DLQ that grew."""
    from chalicelib.platform import correlation

    # The scheduled event's time names the run (the alert id), as the stack's clock says.
    with correlation.use(None):
        bootstrap.services().dead_letters.watch(str(event.to_dict()["time"]))


# --- dead letters (admin) ---------------------------------------------------------

DEAD_LETTER_QUEUE = openapi.ref("chalicelib.ops.views:DeadLetterQueue")
DEAD_LETTER = openapi.ref("chalicelib.ops.views:DeadLetter")


@api.route(
    "/ops/dead-letters",
    roles=("admin",),
    summary="The stage's dead-letter queues, with depth and oldest message age",
    response=openapi.items(DEAD_LETTER_QUEUE),
)
def list_dead_letter_queues() -> dict[str, Any]:
    queues = bootstrap.services().dead_letters.list_queues()
    return {"items": [q.as_dict() for q in queues]}


@api.route(
    "/ops/dead-letters/{queue}",
    roles=("admin",),
    summary="A dead-letter queue's messages (up to 100), left in the queue",
    response=openapi.items(DEAD_LETTER),
    failures=(404,),
)
def list_dead_letters(queue: str) -> dict[str, Any]:
    letters = bootstrap.services().dead_letters.messages(queue)
    return {"items": [m.as_dict() for m in letters]}


@api.route(
    "/ops/dead-letters/{queue}/{messageId}",
    methods=("DELETE",),
    roles=("admin",),
    summary="Delete one dead letter (it is not retried)",
    status=204,
    failures=(404,),
)
def delete_dead_letter(queue: str, messageId: str) -> Response:  # noqa: N803
    bootstrap.services().dead_letters.delete(queue, messageId)
    return Response(body="", status_code=204)


REDRIVE = openapi.ref("chalicelib.ops.views:Redrive")


@api.route(
    "/ops/dead-letters/{queue}/redrive",
    methods=("POST",),
    roles=("admin",),
    summary="Move every message of a step queue's DLQ back to that queue",
    description="202: a message move task (StartMessageMoveTask). SQS runs it on its own; "
    "poll GET /ops/dead-letters for the depth. 409 for the stream-failures queue.",
    response=REDRIVE,
    status=202,
    failures=(404, 409),
)
def redrive_dead_letters(queue: str) -> Response:
    task = bootstrap.services().dead_letters.redrive(queue)
    return Response(body=task.as_dict(), status_code=202)


# --- alerts -------------------------------------------------------------------------


@bp.on_sns_message(topic=settings.ops_alerts_topic_arn)
def record_alert(event: Any) -> None:
    """Every message on the ops-alerts topic: recorded once (see ops.alerts)."""
    from chalicelib.ops.alerts import SnsNotice

    sns = event.to_dict()["Records"][0]["Sns"]
    notice = SnsNotice(event.message, event.subject, sns["MessageId"], sns["Timestamp"])
    bootstrap.services().alert_book.record(notice)


ALERT = openapi.ref("chalicelib.ops.views:AlertView")


@api.route(
    "/ops/alerts",
    roles=("admin",),
    summary="Operator alerts, newest first",
    description="Everything published on the ops-alerts topic, each cause once: the app's "
    "alerts (LOW_STOCK, DEAD_LETTERS, SAGA_TIMEOUT, IMAGE_FAILED), CloudWatch alarm state "
    "changes (ALARM) and messages published by hand (MESSAGE). Kept 90 days.",
    response=openapi.page(ALERT),
    query=openapi.PAGING,
)
def list_alerts() -> dict[str, Any]:
    scope = "ops:alerts"
    start = request.page_start(scope)
    page = bootstrap.services().alert_book.newest(request.page_limit(), start)
    return request.page([a.to_dict() for a in page.alerts], page.last_key, scope)
