"""Why each message failed, in the ops table: ``FAILURE#messageId / REASON``
(``queue``, ``reason``, ``at``), written by the queue handler that failed it
(``platform.failures``) and read by the dead-letter listing; TTL'd after the
longest a DLQ keeps a message (14 days) plus a day. Its own module, so the
queue handlers load nothing else of ops."""

from __future__ import annotations

import time

from chalicelib.platform import aws, dynamo

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:PutItem"})

FAILURE_TTL_SECONDS = 15 * 24 * 3600


class DynamoFailureLog(dynamo.DynamoTable):
    """The reasons handlers record (``platform.failures``), read by the DLQ listing."""

    def record(self, message_id: str, queue: str, reason: str) -> None:
        now = int(time.time())
        with aws.translate():
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"FAILURE#{message_id}"},
                    "sk": {"S": "REASON"},
                    "queue": {"S": queue or "-"},
                    "reason": {"S": reason or "-"},
                    "at": {"N": str(now)},
                    "expiresAt": {"N": str(now + FAILURE_TTL_SECONDS)},
                },
            )

    def reasons(self, message_ids: list[str]) -> dict[str, str]:
        keys = [
            {"pk": {"S": f"FAILURE#{m}"}, "sk": {"S": "REASON"}} for m in dict.fromkeys(message_ids)
        ]
        return {
            item["pk"]["S"].removeprefix("FAILURE#"): item["reason"]["S"]
            for item in self.batch_get(keys, consistent=False)
        }
