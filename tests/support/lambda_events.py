"""Lambda events for handlers invoked directly."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.support.functional_shop import REGION, Shop


def sqs_event(shop: Shop, queue_output: str, bodies: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A Lambda SQS event whose records have distinct message ids (Chalice's
    generator gives every record the same one)."""
    event = shop.client.events.generate_sqs_event(
        message_bodies=bodies, queue_name=shop.outputs[queue_output]
    )
    ids = []
    for record in event["Records"]:
        record["messageId"] = str(uuid.uuid4())
        record["receiptHandle"] = f"rh-{record['messageId']}"
        ids.append(record["messageId"])
    return event, ids


def stream_event(
    shop: Shop, items: list[dict[str, Any]], event_name: str = "INSERT"
) -> dict[str, Any]:
    """A Lambda DynamoDB-stream event carrying ``items`` as new images."""
    records = []
    for n, item in enumerate(items):
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "eventSourceARN": shop.outputs["OrdersStreamArn"],
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": str(n + 1).zfill(21),
                    "SizeBytes": len(json.dumps(item)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}
