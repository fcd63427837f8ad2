"""Where products and reservations live: the role and its DynamoDB implementation.

Products table, keyed ``pk``/``sk``:
- ``PRODUCT#sku / PRODUCT``: name, price, stock, threshold, version, and the
  last restock or adjustment (``lastStockChange``: delta, reason, by, at); on
  ``gsi1`` under ``PRODUCT`` sorted by sku for the catalog listing. Stock
  moves only by conditional deltas (reserve, release, ``adjust_stock``) and is
  set once, by the conditional create; no write replaces an existing product.
  A restock's cap is a condition on the stock (``stock <= MAX_STOCK - d``);
  a release's give-back is conditional on the same room, and one that would
  pass the cap (a restock to the maximum while the order held units) sets
  the stock to MAX_STOCK instead (``give_back``'s ``full``: a ``fill``). So a shipment
  writes no product: the units it takes left the stock at the reservation.
  (Items written before this keep a ``held`` attribute nothing reads.)

  A reservation has no item of its own: ``take`` and ``give_back`` make the
  stock updates (``dynamo.Joint``) that the orders repository commits in ONE
  transaction with the order's StockReserved or StockReleased, on the
  order's status and version; the order's record is the reservation, and
  its conditional write is what makes each move happen once (a second
  delivery finds the order moved on and moves nothing; a cancel that
  overtakes the reservation leaves it unable to take anything).

  A product item also keeps what the image events said (``images``: imageId
  -> READY or GONE, at which revision, with the thumbnail keys) and the
  primary image derived from it (``image``: the newest READY one); the
  catalog never reads the images table.
- ``IMPORT#importId / IMPORT``: a bulk import (see "import records" below).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.catalog.importing import ImportRecord, ImportStatus, RowError
from chalicelib.catalog.model import (
    MAX_STOCK,
    ImageEntry,
    Line,
    Product,
    ProductDetails,
    ProductImage,
)
from chalicelib.catalog.ports import (
    CatalogRepository,
    ImageState,
    ImportClaim,
    ImportProgress,
    ProductPage,
    StockChange,
    StockConflict,
)
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
# The orders repository commits this module's stock moves in its
# TransactWriteItems, authorized per item: Update -> UpdateItem.
AWS_CALLS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
)

__all__ = ["CatalogRepository", "DynamoCatalogRepository", "DynamoImportBook", "ProductPage"]


def _product_key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "PRODUCT"}}


def _to_product(item: dict[str, Any]) -> Product:
    data = {"version": 0} | dynamo.from_item(item)  # items from before versions: 0
    return Product.model_validate({k: data[k] for k in Product.model_fields if k in data})


def _failed_item(exc: errors.Conflict) -> dict[str, Any] | None:
    """The item a failed condition found (``ReturnValuesOnConditionCheckFailure``)."""
    response = getattr(exc.__cause__, "response", None) or {}
    item = response.get("Item")
    return dict(item) if item else None


class DynamoCatalogRepository(dynamo.DynamoTable):
    def create(self, product: Product) -> Product | None:
        item = dynamo.to_item(
            {
                **product.model_dump(),
                "pk": f"PRODUCT#{product.sku}",
                "sk": "PRODUCT",
                "gsi1pk": "PRODUCT",
                "gsi1sk": product.sku,
            }
        )
        try:
            with aws.translate():
                self.ddb.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
        except errors.Conflict:
            return None
        return product

    def update_details(
        self, sku: str, details: ProductDetails, expected_stock: int | None, at: str
    ) -> Product:
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {
            ":n": {"S": details.name},
            ":p": {"N": str(details.priceCents)},
            ":t": {"N": str(details.lowStockThreshold)},
            ":at": {"S": at},
            ":one": {"N": "1"},
        }
        if expected_stock is not None:
            condition += " AND stock = :s"
            values[":s"] = {"N": str(expected_stock)}
        try:
            with aws.translate():
                item = self.ddb.update_item(
                    TableName=self.table,
                    Key=_product_key(sku),
                    # Never stock: it moves by reservations and adjustments only.
                    UpdateExpression="SET #n = :n, priceCents = :p, lowStockThreshold = :t, "
                    "updatedAt = :at ADD version :one",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )["Attributes"]
        except errors.Conflict as exc:
            raise self._stock_conflict(sku, exc) from None
        return _to_product(item)

    def get(self, sku: str) -> Product | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_product_key(sku), ConsistentRead=True
            ).get("Item")
        return _to_product(item) if item else None

    def get_many(self, skus: list[str]) -> dict[str, Product]:
        items = self.batch_get([_product_key(s) for s in dict.fromkeys(skus)])
        return {p.sku: p for p in map(_to_product, items)}

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
        # The index holds keys only (a stock change writes no index): the
        # products themselves come from one BatchGetItem, in the index's order.
        skus = [str(i["gsi1sk"]["S"]) for i in page.get("Items", [])]
        found = self.get_many(skus)
        return ProductPage(
            [found[sku] for sku in skus if sku in found],
            dynamo.from_item(last) if last else None,
        )

    def adjust_stock(self, sku: str, delta: int, at: str, change: StockChange) -> Product:
        # The bound is the condition, so no interleaving can pass it (a
        # release that would pass the cap sets the stock to it: ``give_back``).
        bound = "stock <= :bound" if delta > 0 else "stock >= :bound"
        try:
            with aws.translate():
                item = self.ddb.update_item(
                    TableName=self.table,
                    Key=_product_key(sku),
                    UpdateExpression="SET stock = stock + :d, updatedAt = :at, "
                    "lastStockChange = :change ADD version :one",
                    ConditionExpression=f"attribute_exists(pk) AND {bound}",
                    ExpressionAttributeValues={
                        ":d": {"N": str(delta)},
                        ":bound": {"N": str(MAX_STOCK - delta if delta > 0 else -delta)},
                        ":at": {"S": at},
                        ":one": {"N": "1"},
                        ":change": dynamo.value(
                            {"delta": delta, "reason": change.reason, "by": change.by, "at": at}
                        ),
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )["Attributes"]
        except errors.Conflict as exc:
            raise self._stock_conflict(sku, exc) from None
        return _to_product(item)

    @staticmethod
    def _stock_conflict(sku: str, exc: errors.Conflict) -> errors.DomainError:
        found = _failed_item(exc)
        if found is None:
            return errors.NotFound(f"product {sku} not found")
        current = _to_product(found).stock
        return StockConflict(f"the stock of {sku} is {current}", current)

    def take(self, lines: list[Line], at: str) -> dynamo.Joint:
        return dynamo.Joint(tuple(self._stock_move(line, at, "take") for line in lines))

    def give_back(
        self, lines: list[Line], at: str, full: frozenset[str] = frozenset()
    ) -> dynamo.Joint:
        return dynamo.Joint(
            tuple(
                self._stock_move(line, at, "fill" if line.sku in full else "give") for line in lines
            )
        )

    def _stock_move(self, line: Line, at: str, move: str) -> dict[str, Any]:
        """One line's stock change inside a reservation's or a release's
        transaction: a ``take`` only if that much is there; a ``give``-back
        only if it stays within MAX_STOCK; a ``fill`` (a give-back that would
        pass it) sets the stock to MAX_STOCK."""
        change, condition, values = {
            "take": ("stock - :q", " AND stock >= :q", {":q": line.quantity}),
            "give": (
                "stock + :q",
                " AND stock <= :room",
                {":q": line.quantity, ":room": MAX_STOCK - line.quantity},
            ),
            "fill": (":max", "", {":max": MAX_STOCK}),
        }[move]
        return {
            "Update": {
                "TableName": self.table,
                "Key": _product_key(line.sku),
                "UpdateExpression": f"SET stock = {change}, updatedAt = :at ADD version :one",
                "ConditionExpression": "attribute_exists(pk)" + condition,
                "ExpressionAttributeValues": {
                    **{name: {"N": str(n)} for name, n in values.items()},
                    ":at": {"S": at},
                    ":one": {"N": "1"},
                },
            }
        }

    # --- images (what the image events said) ----------------------------------
    def image_state(self, sku: str) -> ImageState | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table,
                Key=_product_key(sku),
                ConsistentRead=True,
                ProjectionExpression="version, images",
            ).get("Item")
        if not item:
            return None
        data = dynamo.from_item(item)
        entries = {k: ImageEntry.model_validate(v) for k, v in data.get("images", {}).items()}
        return ImageState(int(data.get("version", 0)), entries)

    def set_images(
        self,
        sku: str,
        expected_version: int,
        entries: dict[str, ImageEntry],
        primary: ProductImage | None,
        at: str,
    ) -> bool:
        values = {
            ":v": dynamo.value(expected_version),
            ":zero": dynamo.value(0),
            ":one": dynamo.value(1),
            ":at": dynamo.value(at),
            ":e": dynamo.value({k: e.model_dump() for k, e in entries.items()}),
        }
        update = "SET version = if_not_exists(version, :zero) + :one, images = :e, updatedAt = :at"
        if primary is None:
            update += " REMOVE image"
        else:
            update += ", image = :p"
            values[":p"] = dynamo.value(primary.model_dump())
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=_product_key(sku),
                    UpdateExpression=update,
                    # Items from before versions have none: they read as 0.
                    ConditionExpression="attribute_exists(pk) AND "
                    "(version = :v OR (attribute_not_exists(version) AND :v = :zero))",
                    ExpressionAttributeValues=values,
                )
        except errors.Conflict:
            return False
        return True


# --- import records ----------------------------------------------------------
# ``IMPORT#importId / IMPORT`` in the products table: the record (the fields of
# ImportRecord), the lease of the delivery applying the file (``lease``,
# ``leaseUntil``), its progress (``nextRow``, ``refused``, ``refusedCount``)
# and ``expiresAt``: DynamoDB's TTL deletes a record 30 days after it began.
IMPORT_KEPT_SECONDS = 30 * 24 * 3600
_PENDING_AND_FREE = "#s = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"


def _import_key(import_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"IMPORT#{import_id}"}, "sk": {"S": "IMPORT"}}


def _to_import(item: dict[str, Any]) -> ImportRecord:
    data = dynamo.from_item(item)
    return ImportRecord.model_validate({k: data[k] for k in ImportRecord.model_fields if k in data})


def _progress(item: dict[str, Any]) -> ImportProgress:
    data = dynamo.from_item(item)
    return ImportProgress(
        next_row=int(data.get("nextRow", 0)),
        created=int(data.get("created", 0)),
        updated=int(data.get("updated", 0)),
        refused=tuple(RowError.model_validate(e) for e in data.get("refused", [])),
        refused_count=int(data.get("refusedCount", 0)),
    )


class DynamoImportBook(dynamo.DynamoTable):
    def create(self, record: ImportRecord) -> None:
        created = datetime.fromisoformat(record.createdAt.replace("Z", "+00:00"))
        item = dynamo.to_item(
            {
                **record.model_dump(exclude_none=True),
                "pk": f"IMPORT#{record.importId}",
                "sk": "IMPORT",
                "expiresAt": int(created.timestamp()) + IMPORT_KEPT_SECONDS,
            }
        )
        with aws.translate():
            self.ddb.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )

    def get(self, import_id: str) -> ImportRecord | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_import_key(import_id), ConsistentRead=True
            ).get("Item")
        return _to_import(item) if item else None

    def claim(self, import_id: str, lease: str, now: str, lease_until: str) -> ImportClaim | None:
        try:
            with aws.translate():
                item = self.ddb.update_item(
                    TableName=self.table,
                    Key=_import_key(import_id),
                    UpdateExpression="SET lease = :lease, leaseUntil = :until, updatedAt = :now "
                    "ADD attempts :one",
                    ConditionExpression=_PENDING_AND_FREE,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":lease": {"S": lease},
                        ":until": {"S": lease_until},
                        ":now": {"S": now},
                        ":one": {"N": "1"},
                        ":pending": {"S": ImportStatus.PENDING.value},
                    },
                    ReturnValues="ALL_NEW",
                )["Attributes"]
        except errors.Conflict:
            return None
        return ImportClaim(_to_import(item), lease, _progress(item))

    def _leased_update(
        self, import_id: str, lease: str, update: str, values: dict[str, Any]
    ) -> bool:
        kwargs: dict[str, Any] = {}
        if "#s" in update:
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=_import_key(import_id),
                    UpdateExpression=update,
                    ConditionExpression="lease = :lease",
                    ExpressionAttributeValues={":lease": {"S": lease}, **values},
                    **kwargs,
                )
        except errors.Conflict:
            return False
        return True

    def checkpoint(self, import_id: str, lease: str, progress: ImportProgress, at: str) -> bool:
        return self._leased_update(
            import_id,
            lease,
            "SET nextRow = :next, created = :c, updated = :u, refused = :r, "
            "refusedCount = :rc, updatedAt = :at",
            {
                ":next": dynamo.value(progress.next_row),
                ":c": dynamo.value(progress.created),
                ":u": dynamo.value(progress.updated),
                ":r": dynamo.value([e.model_dump() for e in progress.refused]),
                ":rc": dynamo.value(progress.refused_count),
                ":at": dynamo.value(at),
            },
        )

    def finish(self, import_id: str, lease: str, outcome: ImportRecord) -> bool:
        update = (
            "SET #s = :s, created = :c, updated = :u, errors = :e, errorCount = :ec, "
            "updatedAt = :at"
        )
        values = {
            ":s": dynamo.value(str(outcome.status)),
            ":c": dynamo.value(outcome.created),
            ":u": dynamo.value(outcome.updated),
            ":e": dynamo.value([e.model_dump() for e in outcome.errors]),
            ":ec": dynamo.value(outcome.errorCount),
            ":at": dynamo.value(outcome.updatedAt),
        }
        if outcome.reason is not None:
            update += ", reason = :why"
            values[":why"] = dynamo.value(outcome.reason)
        update += " REMOVE lease, leaseUntil, nextRow, refused, refusedCount, lastError"
        return self._leased_update(import_id, lease, update, values)

    def release(self, import_id: str, lease: str, error: str, at: str) -> None:
        self._leased_update(
            import_id,
            lease,
            "SET lastError = :err, updatedAt = :at REMOVE lease, leaseUntil",
            {":err": dynamo.value(error), ":at": dynamo.value(at)},
        )

    def expire(self, import_id: str, reason: str, now: str) -> ImportRecord | None:
        try:
            with aws.translate():
                item = self.ddb.update_item(
                    TableName=self.table,
                    Key=_import_key(import_id),
                    UpdateExpression="SET #s = :failed, reason = :why, updatedAt = :now",
                    ConditionExpression=_PENDING_AND_FREE,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":failed": {"S": ImportStatus.FAILED.value},
                        ":why": {"S": reason},
                        ":now": {"S": now},
                        ":pending": {"S": ImportStatus.PENDING.value},
                    },
                    ReturnValues="ALL_NEW",
                )["Attributes"]
        except errors.Conflict:
            return self.get(import_id)
        return _to_import(item)
