"""Where products and reservations live: the role and its DynamoDB implementation.

Products table, keyed ``pk``/``sk``:
- ``PRODUCT#sku / PRODUCT``: name, price, stock, threshold; on ``gsi1`` under
  ``PRODUCT`` sorted by sku for the catalog listing;
- ``RESERVATION#orderId / RESERVATION``: the lines an order holds, RESERVED
  or RELEASED. Its existence makes reserve and release idempotent: a second
  reserve finds it, a release flips it once, and a release that comes first
  leaves a RELEASED tombstone so a late reserve takes nothing.
"""

from __future__ import annotations

from typing import Any

from chalicelib.catalog.model import Line, Product, Reservation, ReservationOutcome
from chalicelib.catalog.ports import CatalogRepository, ProductPage
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
# TransactWriteItems is authorized per item: Update -> UpdateItem, Put -> PutItem.
AWS_CALLS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
    }
)

__all__ = ["CatalogRepository", "DynamoCatalogRepository", "ProductPage"]


def _product_key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "PRODUCT"}}


def _reservation_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"RESERVATION#{order_id}"}, "sk": {"S": "RESERVATION"}}


def _to_product(item: dict[str, Any]) -> Product:
    data = dynamo.from_item(item)
    return Product.model_validate({k: data[k] for k in Product.model_fields})


class DynamoCatalogRepository(dynamo.DynamoTable):
    def put(self, product: Product) -> Product:
        item = dynamo.to_item(
            {
                **product.model_dump(),
                "pk": f"PRODUCT#{product.sku}",
                "sk": "PRODUCT",
                "gsi1pk": "PRODUCT",
                "gsi1sk": product.sku,
            }
        )
        with aws.translate():
            self.ddb.put_item(TableName=self.table, Item=item)
        return product

    def get(self, sku: str) -> Product | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_product_key(sku), ConsistentRead=True
            ).get("Item")
        return _to_product(item) if item else None

    def get_many(self, skus: list[str]) -> dict[str, Product]:
        found: dict[str, Product] = {}
        pending = [_product_key(s) for s in dict.fromkeys(skus)]
        with aws.translate():
            while pending:
                chunk, pending = pending[:100], pending[100:]
                request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": True}}
                while request:
                    response = self.ddb.batch_get_item(RequestItems=request)
                    for item in response.get("Responses", {}).get(self.table, []):
                        product = _to_product(item)
                        found[product.sku] = product
                    request = response.get("UnprocessedKeys") or {}
        return found

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "Limit": limit,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "PRODUCT"}},
        }
        if start:
            if start.get("gsi1pk") != "PRODUCT":
                raise errors.InvalidInput("cursor is not valid for this listing")
            kwargs["ExclusiveStartKey"] = dynamo.to_item(start)
        with aws.translate():
            page = self.ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return ProductPage(
            [_to_product(i) for i in page.get("Items", [])],
            dynamo.from_item(last) if last else None,
        )

    def add_stock(self, sku: str, quantity: int, at: str) -> Product:
        try:
            with aws.translate():
                item = self.ddb.update_item(
                    TableName=self.table,
                    Key=_product_key(sku),
                    UpdateExpression="SET stock = stock + :q, updatedAt = :at",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":q": {"N": str(quantity)}, ":at": {"S": at}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
        except errors.Conflict:
            raise errors.NotFound(f"product {sku} not found") from None
        return _to_product(item)

    def reserve(self, order_id: str, lines: list[Line], at: str) -> ReservationOutcome:
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _product_key(line.sku),
                    "UpdateExpression": "SET stock = stock - :q, updatedAt = :at",
                    "ConditionExpression": "attribute_exists(pk) AND stock >= :q",
                    "ExpressionAttributeValues": {
                        ":q": {"N": str(line.quantity)},
                        ":at": {"S": at},
                    },
                }
            }
            for line in lines
        ]
        items.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **_reservation_key(order_id),
                        "state": {"S": "RESERVED"},
                        "at": {"S": at},
                        "lines": dynamo.value([line.model_dump() for line in lines]),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        try:
            with aws.translate():
                self.ddb.transact_write_items(TransactItems=items)
        except errors.Conflict as exc:
            codes = dynamo.cancellation_codes(exc.__cause__ or exc)
            if "TransactionConflict" in codes:
                raise errors.Transient("concurrent reservation; retry") from exc
            if codes and codes[-1] == "ConditionalCheckFailed":
                state = self._reservation_state(order_id)
                return ReservationOutcome(
                    status=Reservation.DUPLICATE if state == "RESERVED" else Reservation.RELEASED
                )
            short = [
                line.sku
                for line, code in zip(lines, codes, strict=False)
                if code == "ConditionalCheckFailed"
            ]
            if not short:
                raise
            return ReservationOutcome(status=Reservation.SHORT, short_skus=short)
        return ReservationOutcome(status=Reservation.RESERVED)

    def _reservation_state(self, order_id: str) -> str | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_reservation_key(order_id), ConsistentRead=True
            ).get("Item")
        return str(item["state"]["S"]) if item else None

    def release(self, order_id: str, at: str) -> list[Line] | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_reservation_key(order_id), ConsistentRead=True
            ).get("Item")
        if item is None:
            # Nothing held yet: leave a tombstone so a late reserve takes nothing.
            try:
                with aws.translate():
                    self.ddb.put_item(
                        TableName=self.table,
                        Item={
                            **_reservation_key(order_id),
                            "state": {"S": "RELEASED"},
                            "at": {"S": at},
                            "lines": {"L": []},
                        },
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                return None
            except errors.Conflict:
                return self.release(order_id, at)  # the reservation just landed
        data = dynamo.from_item(item)
        if data["state"] != "RESERVED":
            return None
        lines = [Line(**line) for line in data.get("lines", [])]
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _reservation_key(order_id),
                    "UpdateExpression": "SET #s = :released, releasedAt = :at",
                    "ConditionExpression": "#s = :reserved",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {
                        ":released": {"S": "RELEASED"},
                        ":reserved": {"S": "RESERVED"},
                        ":at": {"S": at},
                    },
                }
            }
        ]
        items += [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _product_key(line.sku),
                    "UpdateExpression": "SET stock = stock + :q, updatedAt = :at",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {
                        ":q": {"N": str(line.quantity)},
                        ":at": {"S": at},
                    },
                }
            }
            for line in lines
        ]
        try:
            with aws.translate():
                self.ddb.transact_write_items(TransactItems=items)
        except errors.Conflict as exc:
            codes = dynamo.cancellation_codes(exc.__cause__ or exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return None  # released concurrently by a duplicate delivery
            raise errors.Transient("release did not commit; retry") from exc
        return lines
