"""``python -m tools replay-events --into analytics [--since ISO-time]``:
rebuild a read model from the domain bus's archive.

Without ``--since`` the projection's table is wiped first (its counters and
its counted-once markers), then every archived event is replayed; with it,
only the events archived since then, onto the numbers as they are (each fact
counts once, so a replay that overlaps what was counted changes nothing).
The replay (EventBridge ``StartReplay``) goes to the bus with the read
model's rule as its only destination (``FilterArns``): no other consumer
sees the events again. It prints what it replayed; the read model's queue
then consumes them (the numbers are rebuilt once it is empty).

Against the local stack by default (the emulator's CloudFormation stack gives
the names; devstack makes the emulator's replay honour its window and
rules as EventBridge does); against AWS with ``--stack eventshop-dev --endpoint ''``.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from devstack.stack import LOCAL_ENV

# Read model -> (its table's output, its rule's suffix: eventshop-<stage>-<suffix>).
PROJECTIONS = {"analytics": ("AnalyticsTableName", "analytics")}
REPLAY_TIMEOUT_S = 900
_DONE = {"COMPLETED", "FAILED", "CANCELLED"}


def outputs(session: Any, stack: str) -> dict[str, str]:
    cfn = session.client("cloudformation")
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def wipe(ddb: Any, table: str) -> int:
    """Delete every item of ``table``; how many there were."""
    deleted = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        keys = page.get("Items", [])
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
            while requests:
                left = ddb.batch_write_item(RequestItems={table: requests})
                requests = left.get("UnprocessedItems", {}).get(table, [])
        deleted += len(keys)
    return deleted


def parse_since(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(into: str, since: str | None, stack: str, endpoint: str | None) -> int:
    import boto3

    if into not in PROJECTIONS:
        print(f"unknown read model {into!r}: one of {', '.join(PROJECTIONS)}")
        return 2
    if endpoint:
        os.environ.update(LOCAL_ENV)
        os.environ.pop("AWS_PROFILE", None)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    session = boto3.session.Session()
    out = outputs(session, stack)
    table_output, rule_suffix = PROJECTIONS[into]
    bus = out["EventBusName"]
    events = session.client("events")
    archive = events.describe_archive(ArchiveName=f"{bus}-domain-events")
    rule = events.describe_rule(Name=f"{bus}-{rule_suffix}", EventBusName=bus)

    start = parse_since(since) if since else archive["CreationTime"]
    end = datetime.now(UTC)
    wiped = 0 if since else wipe(session.client("dynamodb"), out[table_output])
    name = f"{into}-{end:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    events.start_replay(
        ReplayName=name,
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=start,
        EventEndTime=end,
        Destination={"Arn": archive["EventSourceArn"], "FilterArns": [rule["Arn"]]},
    )
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    state = "STARTING"
    while time.monotonic() < deadline:
        replay = events.describe_replay(ReplayName=name)
        state = str(replay["State"])
        if state in _DONE:
            break
        time.sleep(5)  # an AWS replay takes minutes: ask again, boundedly
    print(
        f"replay {name}: {state}\n"
        f"  from archive {archive['ArchiveName']} ({archive.get('EventCount', '?')} events kept)\n"
        f"  events archived {start:%Y-%m-%dT%H:%M:%S%z} .. {end:%Y-%m-%dT%H:%M:%S%z}\n"
        f"  to rule {rule['Name']} only (queue of the {into} read model)\n"
        + (f"  after wiping {wiped} items of {out[table_output]}\n" if not since else "")
        + "  the read model's queue consumes them: its numbers are rebuilt once it is empty"
    )
    return 0 if state == "COMPLETED" else 1
