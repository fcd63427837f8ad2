"""Operations' own table: what the dead-letter watcher last saw.

Ops table, keyed ``pk``/``sk``:
- ``DLQ#name / DEPTH``: the depth the last watcher run saw (``depth``, ``at``).
- ``ALERT#alertId / ALERT``: an alert id already recorded (the dedup marker).
- ``FAILURE#messageId / REASON``: why the message last failed (``ops.failures``).
- ``ALERTS / at#alertId``: the alert itself; one partition, read newest first.
  Alerts are a few a minute at the worst, far below one partition's 1,000
  writes a second. Both items carry the table's TTL (``expiresAt``, 90 days).
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.ops.alerts import AlertPage
from chalicelib.platform import aws, dynamo, errors
from chalicelib.platform.alerts import Alert, AlertKind

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"})

ALERT_TTL_SECONDS = 90 * 24 * 3600
ALERTS_PK = "ALERTS"


class DynamoDepths(dynamo.DynamoTable):
    def swap(self, queue: str, depth: int, at: str) -> int:
        """Record ``depth`` for ``queue``; return the one recorded before (0 the
        first time). One atomic write, so two runs at once see distinct values."""
        with aws.translate():
            old = self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"DLQ#{queue}"}, "sk": {"S": "DEPTH"}},
                UpdateExpression="SET #depth = :d, #at = :at",  # both reserved words
                ExpressionAttributeNames={"#depth": "depth", "#at": "at"},
                ExpressionAttributeValues={":d": {"N": str(depth)}, ":at": {"S": at}},
                # ALL_OLD: moto leaves an unchanged attribute out of UPDATED_OLD.
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        return int(old["depth"]["N"]) if "depth" in old else 0


class DynamoAlertLog(dynamo.DynamoTable):
    def record(self, alert: Alert) -> bool:
        expires = {"N": str(int(time.time()) + ALERT_TTL_SECONDS)}
        entry = {
            "pk": {"S": ALERTS_PK},
            "sk": {"S": f"{alert.at}#{alert.alert_id}"},
            "alertId": {"S": alert.alert_id},
            "kind": {"S": alert.kind.value},
            "subject": {"S": alert.subject},
            "data": {"S": json.dumps(alert.data, separators=(",", ":"), default=str)},
            "at": {"S": alert.at},
            "expiresAt": expires,
        }
        marker = {"pk": {"S": f"ALERT#{alert.alert_id}"}, "sk": {"S": "ALERT"}}
        try:
            with aws.translate():
                self.ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {**marker, "expiresAt": expires},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": {"TableName": self.table, "Item": entry}},
                    ]
                )
        except errors.Conflict:
            return False  # this cause is recorded already
        return True

    def newest(self, limit: int, start: dict[str, Any] | None) -> AlertPage:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Limit": limit,
            "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": ALERTS_PK}},
        }
        if start:
            if start.get("pk") != ALERTS_PK or not isinstance(start.get("sk"), str):
                raise errors.InvalidInput("cursor is not valid for this listing")
            kwargs["ExclusiveStartKey"] = dynamo.to_item({"pk": ALERTS_PK, "sk": start["sk"]})
        with aws.translate():
            page = self.ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return AlertPage(
            [_to_alert(i) for i in page.get("Items", [])],
            dynamo.from_item(last) if last else None,
        )


def _to_alert(item: dict[str, Any]) -> Alert:
    data = json.loads(item["data"]["S"])
    return Alert(
        AlertKind(item["kind"]["S"]),
        item["subject"]["S"],
        data,
        item["alertId"]["S"],
        item["at"]["S"],
    )
