"""Operations' own table: what the dead-letter watcher last saw.

Ops table, keyed ``pk``/``sk``:
- ``DLQ#name / DEPTH``: the depth the last watcher run saw (``depth``, ``at``).
"""

from __future__ import annotations

from chalicelib.platform import aws, dynamo

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:UpdateItem"})


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
