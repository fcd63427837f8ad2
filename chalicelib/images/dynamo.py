"""Image records in DynamoDB (the images table; ``gsi1`` lists a sku's images)."""

from __future__ import annotations

from typing import Any

from chalicelib.images.model import Image
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"})


def _item(image: Image) -> dict[str, Any]:
    data = image.model_dump(mode="json")
    data.update(
        pk=image.imageId, gsi1pk=f"SKU#{image.sku}", gsi1sk=f"{image.createdAt}#{image.imageId}"
    )
    return dynamo.to_item(data)


def _image(item: dict[str, Any]) -> Image:
    data = dynamo.from_item(item)
    for k in ("pk", "gsi1pk", "gsi1sk"):
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

    def list_for_sku(self, sku: str) -> list[Image]:
        out: list[Image] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :s",
            "ExpressionAttributeValues": {":s": {"S": f"SKU#{sku}"}},
        }
        with aws.translate():
            while True:
                page = self.ddb.query(**kwargs)
                out.extend(_image(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
