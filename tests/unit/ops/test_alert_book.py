"""What the alert subscriber records for each shape of message on the topic."""

from __future__ import annotations

import json

from chalicelib.ops.alerts import AlertBook, SnsNotice, to_alert
from chalicelib.platform.alerts import Alert, AlertKind
from tests.support.fakes import FakeAlertLog


def notice(message: str, subject: str | None = None, message_id: str = "m-1") -> SnsNotice:
    return SnsNotice(message, subject, message_id, "2026-12-03T07:00:00.123Z")


def test_the_apps_alert_is_recorded_as_raised() -> None:
    raised = Alert(AlertKind.SAGA_TIMEOUT, "order o1 timed out", {"orderId": "o1"}, "SAGA#o1", "t")
    got = to_alert(notice(raised.to_message().body))
    assert got == raised


def test_a_cloudwatch_alarm_is_an_alarm_per_state_change() -> None:
    alarm = {
        "AlarmName": "eventshop-dev-relay-iterator-age",
        "AlarmDescription": "Order events are not being relayed",
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed: 1 datapoint [120000.0] > 60000",
        "StateChangeTime": "2026-12-03T06:59:58.321+0000",
        "Trigger": {"MetricName": "IteratorAge"},
    }
    got = to_alert(notice(json.dumps(alarm), "ALARM: relay"))
    assert got.kind == AlertKind.ALARM
    assert got.subject == "ALARM: eventshop-dev-relay-iterator-age"
    assert got.at == "2026-12-03T06:59:58.321Z"
    assert got.alert_id == "ALARM#eventshop-dev-relay-iterator-age#2026-12-03T06:59:58.321Z"
    assert got.data["state"] == "ALARM" and got.data["oldState"] == "OK"
    assert got.data["reason"].startswith("Threshold Crossed")
    back = to_alert(
        notice(
            json.dumps(
                {
                    **alarm,
                    "NewStateValue": "OK",
                    "OldStateValue": "ALARM",
                    "StateChangeTime": "2026-12-03T07:10:00.000+0000",
                }
            )
        )
    )
    assert back.subject.startswith("OK: ") and back.alert_id != got.alert_id


def test_anything_else_is_kept_as_a_message_by_its_sns_id() -> None:
    for body, subject, expected in [
        ("disk is full\nsecond line", None, "disk is full"),
        ('{"AlarmName": "half an alarm"}', "by hand", "by hand"),
        ('{"kind": "NOT_A_KIND", "alertId": "x", "subject": "s", "at": "t"}', None, None),
        ("", None, "(empty message)"),
    ]:
        got = to_alert(notice(body, subject, "m-9"))
        assert got.kind == AlertKind.MESSAGE
        assert got.alert_id == "SNS#m-9"
        assert got.data == {"text": body}
        assert got.at == "2026-12-03T07:00:00.123Z"
        if expected is not None:
            assert got.subject == expected


def test_a_redelivered_message_is_recorded_once() -> None:
    log = FakeAlertLog()
    book = AlertBook(log)
    book.record(notice("by hand", message_id="m-2"))
    book.record(notice("by hand", message_id="m-2"))
    assert [a.alert_id for a in book.newest(10, None).alerts] == ["SNS#m-2"]
