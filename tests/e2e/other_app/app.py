"""A Chalice app that is not eventshop, with one handler of every kind Chalice
has, run through devstack by tests/e2e/test_other_app.py. Every handler leaves
a mark (``chalicelib.platform.mark``: its own package, whose name eventshop's
package also has) that the test reads back after a drain."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from chalice.app import AuthRequest, AuthResponse, Chalice, Rate, Response

from chalicelib.platform import ORIGIN, mark

app = Chalice(app_name="ledger")
STAGE = os.environ["LEDGER_STAGE"]
TOKEN = "Bearer let-me-in"
# The first bytes of a PNG file: bytes that are not valid UTF-8.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@app.authorizer()
def gate(auth: AuthRequest) -> AuthResponse:
    if auth.token != TOKEN:
        raise Exception("Unauthorized")  # noqa: TRY002 - API Gateway's contract for a 401
    mark("authorizer", principal="tester")
    return AuthResponse(routes=["/whoami"], principal_id="tester")


@app.route("/whoami", authorizer=gate)
def whoami() -> dict[str, Any]:
    context = app.current_request.context if app.current_request else {}
    principal = context["authorizer"]["principalId"]
    mark("route", principal=principal)
    return {"principal": principal, "origin": ORIGIN}


@app.route("/keyed", api_key_required=True)
def keyed() -> dict[str, bool]:
    return {"keyed": True}


@app.route("/blob")
def blob() -> Response:
    return Response(body=PNG, headers={"Content-Type": "image/png"})


@app.route("/tally", methods=["POST"])
def tally_route() -> dict[str, Any]:
    """Invoke the ``tally`` function as a deployed app would (Lambda's Invoke,
    by the name ``chalice deploy`` gives it): at once, or queued (``async``)."""
    body = (app.current_request.json_body if app.current_request else None) or {}
    answer = boto3.client("lambda").invoke(
        FunctionName=f"{app.app_name}-{STAGE}-tally",
        InvocationType="Event" if body.get("async") else "RequestResponse",
        Payload=json.dumps({"numbers": body.get("numbers", [])}).encode(),
    )
    payload = answer["Payload"].read()
    return {
        "status": answer["StatusCode"],
        "error": answer.get("FunctionError"),
        "result": json.loads(payload) if payload else None,
    }


@app.lambda_function(name="tally")
def tally(event: dict[str, Any], context: Any) -> dict[str, Any]:
    numbers = event["numbers"]
    if not all(isinstance(n, int) for n in numbers):
        raise ValueError("numbers only")
    mark("lambda", total=sum(numbers), function=context.function_name)
    return {"total": sum(numbers)}


@app.on_sqs_message(queue=os.environ["JOBS_QUEUE_NAME"])
def job(event: Any) -> None:
    for record in event:
        mark("sqs", body=record.body)


@app.on_s3_event(bucket=os.environ["DROPS_BUCKET_NAME"])
def dropped(event: Any) -> None:
    mark("s3", key=event.key)


@app.on_sns_message(topic=os.environ["NEWS_TOPIC_NAME"])
def news(event: Any) -> None:
    mark("sns", message=event.message)


@app.on_dynamodb_record(stream_arn=os.environ["ENTRIES_STREAM_ARN"])
def entry_changed(event: Any) -> None:
    for record in event:
        mark("dynamodb", key=record.keys["id"]["S"], name=record.event_name)


@app.on_cw_event({"source": ["ledger.tests"]})
def ledger_event(event: Any) -> None:
    mark("eventbridge", id=event.detail["id"], detail_type=event.detail_type)


@app.schedule(Rate(1, unit=Rate.HOURS))
def hourly(event: Any) -> None:
    mark("schedule", time=event.to_dict()["time"])
