"""The ops-alerts subscriber and GET /ops/alerts: what reaches the topic is
listed once per cause, newest first, page by page (on moto)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.platform.alerts import Alert, AlertKind
from tests.support.functional_shop import Shop


def deliver(shop: Shop, message: str, subject: str = "", at: str = "") -> None:
    """``record_alert`` invoked with SNS's Lambda event for one message."""
    event = shop.client.events.generate_sns_event(message, subject)
    sns = event["Records"][0]["Sns"]
    sns["MessageId"] = str(uuid.uuid4())
    if at:
        sns["Timestamp"] = at
    shop.client.lambda_.invoke("record_alert", event)


def listing(shop: Shop, query: str = "") -> dict[str, Any]:
    response = shop.call("GET", f"/ops/alerts{query}", headers=shop.admin())
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def test_alerts_are_listed_newest_first_once_per_cause_across_pages(shop: Shop) -> None:
    run = uuid.uuid4().hex[:8]
    for minute in (1, 3, 2):
        alert = Alert(
            AlertKind.SAGA_TIMEOUT,
            f"order {run}-{minute} timed out in RESERVED",
            {"orderId": f"{run}-{minute}", "status": "RESERVED"},
            f"SAGA_TIMEOUT#{run}-{minute}",
            f"2999-01-01T00:0{minute}:00.000Z",  # newer than anything else in the table
        )
        deliver(shop, alert.to_message().body)
        deliver(shop, alert.to_message().body)  # SNS delivers at least once

    first = listing(shop, "?limit=2")
    second = listing(shop, f"?limit=2&cursor={first['nextCursor']}")
    ids = [a["alertId"] for a in first["items"] + second["items"]][:3]
    assert ids == [f"SAGA_TIMEOUT#{run}-{m}" for m in (3, 2, 1)]
    top = first["items"][0]
    assert top == {
        "alertId": f"SAGA_TIMEOUT#{run}-3",
        "kind": "SAGA_TIMEOUT",
        "subject": f"order {run}-3 timed out in RESERVED",
        "data": {"orderId": f"{run}-3", "status": "RESERVED"},
        "at": "2999-01-01T00:03:00.000Z",
    }


def test_a_cloudwatch_alarm_and_a_message_by_hand_are_recorded_too(shop: Shop) -> None:
    alarm = {
        "AlarmName": f"eventshop-test-relay-iterator-age-{uuid.uuid4().hex[:6]}",
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": "2998-06-01T00:00:00.000+0000",
    }
    deliver(shop, json.dumps(alarm), "ALARM: relay")
    deliver(shop, "the shop is on fire", "by hand", at="2998-05-01T00:00:00.000Z")

    items = listing(shop, "?limit=100")["items"]
    kinds = {
        a["kind"]: a
        for a in items
        if a["at"] in ("2998-06-01T00:00:00.000Z", "2998-05-01T00:00:00.000Z")
    }
    assert kinds["ALARM"]["subject"] == f"ALARM: {alarm['AlarmName']}"
    assert kinds["MESSAGE"]["subject"] == "by hand"
    assert kinds["MESSAGE"]["data"] == {"text": "the shop is on fire"}


def test_a_cursor_from_another_listing_is_a_400(shop: Shop) -> None:
    shop.put_product(stock=1)  # so that a one-item page of products has a next cursor
    other = shop.call("GET", "/products?limit=1", headers=shop.admin()).json_body["nextCursor"]
    response = shop.call("GET", f"/ops/alerts?cursor={other}", headers=shop.admin())
    assert response.status_code == 400, response.body
