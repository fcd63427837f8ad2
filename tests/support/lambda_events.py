"""Lambda events for handlers invoked directly, built from canned AWS samples.

``events/*.json`` hold one event per kind, in the shape Lambda delivers it
(AWS's documented samples, with eventshop's names and an OrderPlaced message):

- ``sqs``: a notify-queue record whose body is the EventBridge event a bus
  rule delivers, the OrderPlaced envelope its ``detail``;
- ``sns``: an SNS record (a customer-notifications one) carrying that envelope;
- ``s3``: an ObjectCreated:Post of an upload (``uploads/<sku>/<imageId>``);
- ``dynamodb``: the orders table's stream INSERT of that OrderPlaced event.

``load(kind, **fields)`` is that event with its record's fields replaced;
``batch(kind, [fields, ...])`` one record per entry.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.functional_shop import Shop

EVENTS = Path(__file__).parent / "events"
KINDS = ("sqs", "sns", "s3", "dynamodb")
ACCOUNT = "123456789012"  # moto's, and the samples'

# Maps whose keys are data (attribute names, item attributes): a value given
# for one replaces it whole instead of merging into it.
DATA_MAPS = frozenset({"NewImage", "OldImage", "Keys", "messageAttributes", "MessageAttributes"})


@cache
def _text(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"no canned {kind!r} event; there are {', '.join(KINDS)}")
    return (EVENTS / f"{kind}.json").read_text()


def sample(kind: str) -> dict[str, Any]:
    """The canned event of ``kind``, as AWS delivers it: a fresh copy."""
    return dict(json.loads(_text(kind)))


def _merge(into: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in fields.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict) and key not in DATA_MAPS:
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def record(kind: str, **fields: Any) -> dict[str, Any]:
    """The canned event's record with ``fields`` put in. A mapping merges into
    the mapping it meets (``s3={"object": {"key": k}}`` keeps size and eTag),
    except the data maps (``DATA_MAPS``), which it replaces; anything else
    replaces. What describes a replaced payload follows it: an SQS ``body``
    brings its ``md5OfBody`` and no message attributes, an SNS ``Message`` no
    message attributes, a stream ``NewImage`` its ``Keys`` and ``SizeBytes``
    (unless those are given too)."""
    (canned,) = sample(kind)["Records"]
    out = _merge(canned, fields)
    if kind == "sqs" and "body" in fields:
        if "md5OfBody" not in fields:
            body = str(out["body"]).encode()
            out["md5OfBody"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if "messageAttributes" not in fields:
            out["messageAttributes"] = {}
    sns = fields.get("Sns", {})
    if kind == "sns" and "Message" in sns and "MessageAttributes" not in sns:
        out["Sns"]["MessageAttributes"] = {}
    if kind == "dynamodb" and "NewImage" in fields.get("dynamodb", {}):
        given, stream = fields["dynamodb"], out["dynamodb"]
        image = stream["NewImage"]
        if "Keys" not in given:
            stream["Keys"] = {k: image[k] for k in sample(kind)["Records"][0]["dynamodb"]["Keys"]}
        if "SizeBytes" not in given:
            stream["SizeBytes"] = len(json.dumps(image))
    return out


def load(kind: str, **fields: Any) -> dict[str, Any]:
    """A Lambda event of ``kind`` with one record: the canned one with
    ``fields`` put in (see ``record``)."""
    return {"Records": [record(kind, **fields)]}


def batch(kind: str, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A Lambda event of ``kind`` with one record per mapping of fields."""
    return {"Records": [record(kind, **fields) for fields in records]}


# --- the functional tier's handlers, on its moto world ---------------------------


def sqs_event(shop: Shop, queue_output: str, bodies: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A Lambda SQS event from the queue ``shop.outputs[queue_output]``, one
    record per body, each with its own message id; returns the event and the ids."""
    queue, region = shop.outputs[queue_output], shop.session.region_name
    ids = [str(uuid.uuid4()) for _ in bodies]
    event = batch(
        "sqs",
        (
            {
                "messageId": message_id,
                "receiptHandle": f"rh-{message_id}",
                "body": body,
                "eventSourceARN": f"arn:aws:sqs:{region}:{ACCOUNT}:{queue}",
                "awsRegion": region,
            }
            for message_id, body in zip(ids, bodies, strict=True)
        ),
    )
    return event, ids


def stream_event(
    shop: Shop,
    items: list[dict[str, Any]],
    event_name: str = "INSERT",
    old_images: list[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """A Lambda DynamoDB-stream event of the orders table carrying ``items``
    (DynamoDB JSON, with ``pk`` and ``sk``) as new images, and ``old_images``
    (one per item, None for none) as their old ones."""
    olds = old_images or [None] * len(items)
    return batch(
        "dynamodb",
        (
            {
                "eventID": uuid.uuid4().hex,
                "eventName": event_name,
                "awsRegion": shop.session.region_name,
                "eventSourceARN": shop.outputs["OrdersStreamArn"],
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "NewImage": item,
                    **({"OldImage": old} if old else {}),
                    "SequenceNumber": str(n + 1).zfill(21),
                },
            }
            for n, (item, old) in enumerate(zip(items, olds, strict=True))
        ),
    )
