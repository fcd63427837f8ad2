"""Image records in DynamoDB (the images table; ``gsi1`` lists a sku's images,
every status, by creation time: a listing by status reads that partition with
a filter on ``status``, so no write pays for a second index; ``gsi2`` is
sparse: only PENDING upload slots carry its keys, by creation time, so the
daily expiry queries the few open slots, never the whole table)."""

from __future__ import annotations

from typing import Any

from chalicelib.images.model import Image, ImageStatus
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"})
PENDING_PK = "PENDING"


def _item(image: Image) -> dict[str, Any]:
    data = image.model_dump(mode="json")
    data.update(
        pk=image.imageId, gsi1pk=f"SKU#{image.sku}", gsi1sk=f"{image.createdAt}#{image.imageId}"
    )
    if image.status == ImageStatus.PENDING and image.deletedAt is None:
        data.update(gsi2pk=PENDING_PK, gsi2sk=f"{image.createdAt}#{image.imageId}")
    return dynamo.to_item(data)


def _image(item: dict[str, Any]) -> Image:
    data = dynamo.from_item(item)
    for k in ("pk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"):
        data.pop(k, None)
    return Image.model_validate(data)


class DynamoImageRepository(dynamo.DynamoTable):
    def create(self, image: Image) -> None:
        with aws.translate():
            self.ddb.put_item(
                TableName=self.table,
                Item=_item(image),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, image_id: str) -> Image | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key={"pk": {"S": image_id}}, ConsistentRead=True
            ).get("Item")
        return _image(item) if item else None

    def save(self, image: Image, expected_sequencer: str | None) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": _item(image)}
        if expected_sequencer is None:
            kwargs["ConditionExpression"] = (
                "attribute_exists(pk) AND attribute_not_exists(sequencer)"
            )
        else:
            kwargs["ConditionExpression"] = "sequencer = :s"
            kwargs["ExpressionAttributeValues"] = {":s": {"S": expected_sequencer}}
        try:
            with aws.translate():
                self.ddb.put_item(**kwargs)
        except errors.Conflict:
            return False
        return True

    def list_for_sku(self, sku: str, status: ImageStatus | None = None) -> list[Image]:
        out: list[Image] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :s",
            "ExpressionAttributeValues": {":s": {"S": f"SKU#{sku}"}},
        }
        if status is not None:
            # Read capacity counts the sku's every image; only these come back.
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            kwargs["ExpressionAttributeValues"][":status"] = {"S": str(status)}
        with aws.translate():
            while True:
                page = self.ddb.query(**kwargs)
                out.extend(_image(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def pending_before(self, before: str, limit: int) -> list[Image]:
        with aws.translate():
            page = self.ddb.query(
                TableName=self.table,
                IndexName="gsi2",
                Limit=limit,
                KeyConditionExpression="gsi2pk = :p AND gsi2sk < :before",
                ExpressionAttributeValues={":p": {"S": PENDING_PK}, ":before": {"S": before}},
            )
        return [_image(i) for i in page.get("Items", [])]
