"""The order saga on the local stack: throughput, latency, AWS requests and cost per order.

Starts a whole local stack (``devstack.testing.running_stack``), creates a few
products with ample stock, then:

1. **latency**: ``--clients`` threads place ``--orders`` orders in all; each
   client POSTs an order, then polls ``GET /orders/{id}`` every 20 ms until a
   terminal status. Latency = POST start -> first terminal status seen;
   throughput = orders / (first POST -> last terminal status).
2. **requests**: the polling GETs are app AWS requests too, so the counting is
   a separate phase: reset the stack's counters, place ``--count-orders``
   orders without polling, drain, read the counters, then check each order
   reached COMPLETED (one GET each, after the counts were read). Each
   operation's count / orders, with why the code makes it (``REASONS``); an
   operation without a reason is flagged. Run for ``--lines`` lines per order
   and for 3 lines.
3. **reference**: the seeds' reference design, modelled from its description
   (``reference_steps``): its requests beside ours, and both designs' units
   and dollars from the whole bill below.
4. **the whole bill**, per million orders, both designs, a line per cost item
   (DynamoDB write and read units, streams, Lambda invocations and GB-seconds,
   API Gateway, SQS, SNS, EventBridge events and archive) and the total, from
   what the counting phase measured: DynamoDB units as the emulator bills each
   request from the items' real sizes (``devstack.capacity``), each function's
   invocations and mean duration from the stack's deliveries (an estimate, at
   the memory ``.chalice/config.json`` gives it on prod), SQS sends per event a
   rule delivered and a receive and a delete per invocation. The naive design
   gets the same lines except DynamoDB's, billed on our measured item sizes.
   The last line: ``cost: ours/naive 1-line X.XX 3-line Y.YY; WRU/order 1-line
   A 3-line B``.

    .venv/bin/python bench/orders.py [--orders 200] [--count-orders 50] [--lines 1] [--quick]

Prints the tables and writes ``bench/results/orders.json``. Exit code 0, or 1
when an order of the counting phase did not complete (its counts would not be
those of the happy path) or the saga stalled: an order of the latency phase not
terminal after 60 s stops the run, and the stack's status and AWS call counts
at that moment go into the JSON (``stall``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/orders.py
    sys.path.insert(0, str(ROOT))

RESULTS_PATH = ROOT / "bench" / "results" / "orders.json"

# --- public on-demand prices, us-east-1 (USD) -----------------------------------
PRICE_REGION = "us-east-1"
PRICE_DYNAMODB_WRU = 0.625 / 1e6  # per write request unit
PRICE_DYNAMODB_RRU = 0.125 / 1e6  # per read request unit
PRICE_SNS_PUBLISH = 0.50 / 1e6  # per published message (each 64 KB chunk); PublishBatch per message
PRICE_SQS_REQUEST = 0.40 / 1e6  # per request (standard queue)
PRICE_EVENTBRIDGE_EVENT = 1.00 / 1e6  # per custom event put on a bus (each 64 KB chunk)
# The request-count model (``cost_per_million``): what the bench priced before it
# measured the whole bill; kept in the JSON (``requests[].cost``) so runs compare.
COST_NOTES = [
    "ESTIMATE from request counts, not a bill: on-demand prices, us-east-1, free tiers ignored.",
    "DynamoDB: every item written is assumed <= 1 KB (1 WRU; 2 WRU inside a transaction) "
    "and every item read <= 4 KB (1 RRU strongly consistent; 2 in a transaction).",
    "TransactWriteItems items per call come from the code (counts cannot tell): "
    "reserve = 1 + lines (the order's StockReserved + a stock update per line), "
    "analytics facts = 2 and 2 + lines; the other status changes are single-item "
    "updates of the order's record, not transactions, and a shipment's cap an update "
    "per line.",
    "EventBridge is billed per custom event put on a bus, not per PutEvents call: "
    "events/order = order events (one per event, relayed from the stream); the rules' "
    "deliveries to their SQS targets and the archive's storage of a few KB per order "
    "are not priced here.",
    "SNS is billed per message, not per PublishBatch call: messages/order = customer "
    "notifications (one per milestone).",
    "SQS: only the app's own SQS calls are priced; Lambda's polling of the queues "
    "(ReceiveMessage/DeleteMessage by the event source mapping) is billed to you too "
    "but is not an app call: EXCLUDED. SNS -> SQS deliveries are free.",
    "Lambda (invocations, GB-s), API Gateway, data transfer, streams reads by Lambda "
    "(free) and CloudWatch: NOT INCLUDED.",
]

# --- the happy path, from the code ------------------------------------------------
HAPPY_PATH_EVENTS = [
    "OrderPlaced",
    "StockReserved",
    "PaymentCaptured",
    "OrderShipped",
    "OrderCompleted",
]
# Status changes after the order is placed, each an order + event transaction.
STATUS_TRANSITIONS = len(HAPPY_PATH_EVENTS) - 1
TERMINAL = frozenset({"COMPLETED", "REJECTED", "CANCELLED"})
REFERENCE_LINES = 3  # the second order shape reported

# Why the app makes each request, per order on the happy path (chalicelib/, app.py).
REASONS: dict[str, str] = {
    "dynamodb.BatchGetItem": (
        "POST /orders: catalog prices of all lines in one call (1); inventory get_many"
    ),
    "dynamodb.TransactWriteItems": (
        "inventory: the order's StockReserved with the stock of all lines (1); analytics: one "
        "per SQS batch of facts (each fact's marker + the summed counters; batches of up to "
        "100 messages gathered for 1 s, so well under 1 per order) = 1-2"
    ),
    "dynamodb.PutItem": "POST /orders: the order's record, state and first event in one item (1)",
    "dynamodb.UpdateItem": (
        "the status changes that move no stock are one conditional update of the order's "
        "record that appends its event: paid, shipped + completed (2; a shipment writes no "
        "product); payment claimed PENDING before charging (1) + simulated provider: one "
        "idempotent charge call (1; Stripe's is an HTTP call plus its ledger's "
        "GetItem/PutItem); the order's NOTIFIED marker, once per SQS batch of its milestones "
        "(4 milestones, batches gathered for 1 s; shipped + completed mostly share one: 1-4) "
        "= 5-8 whatever the lines"
    ),
    "dynamodb.GetItem": (
        "payments step: the order's status before charging = 1; GET /orders/{id} is not "
        "in the counting phase"
    ),
    "dynamodb.Query": "GET /orders, /orders/{id}/events: 0 in the counting phase",
    "dynamodb.DeleteItem": "notification mark undone after a failed send: 0 on the happy path",
    "eventbridge.PutEvents": (
        "stream relay: 1 call per stream batch, <= 10 events per call (5 events/order)"
    ),
    "sns.PublishBatch": (
        "notify step: 1 call per 10 milestones of an SQS batch (4/order; batches of up "
        "to 100 messages gathered for 1 s)"
    ),
}

# WRU/RRU per call of each DynamoDB operation (see COST_NOTES); None: no model.
_DDB_UNITS: dict[str, tuple[float, float]] = {
    "dynamodb.PutItem": (1, 0),
    "dynamodb.UpdateItem": (1, 0),
    "dynamodb.DeleteItem": (1, 0),
    "dynamodb.GetItem": (0, 1),
    "dynamodb.Query": (0, 1),
}
_SNS_PUBLISH_OPS = frozenset({"sns.Publish", "sns.PublishBatch"})
_BUS_OPS = frozenset({"eventbridge.PutEvents"})
_MESSAGING = ("sns.", "eventbridge.")  # the same for both designs


# --- pure functions (tested without a stack) -----------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def per_order(counts: Mapping[str, int], orders: int) -> dict[str, float]:
    if orders <= 0:
        raise ValueError("orders must be positive")
    return {op: n / orders for op, n in sorted(counts.items()) if n}


def unexplained(counts: Mapping[str, float], reasons: Mapping[str, str] = REASONS) -> list[str]:
    """Operations the app made that ``reasons`` does not explain: to be flagged."""
    return sorted(op for op, n in counts.items() if n and not reasons.get(op))


def transact_items_per_call(lines: int) -> float:
    """Average items of our TransactWriteItems calls for one order, from the
    code: the reservation (the order's record + one per line) and two
    analytics facts (placed: the fact + the day; completed: the fact + the
    day + one per line). The other status changes are single-item updates,
    not transactions."""
    if lines < 1:
        raise ValueError("an order has at least one line")
    items = (lines + 1) + 2 + (2 + lines)
    return items / 3


def capacity_per_call(operation: str, lines: int) -> tuple[float, float] | None:
    """(WRU, RRU) one call of a DynamoDB operation consumes; None if unmodelled."""
    if operation == "dynamodb.TransactWriteItems":
        return 2 * transact_items_per_call(lines), 0
    if operation == "dynamodb.BatchGetItem":
        return 0, lines  # one item per line, strongly consistent, <= 4 KB each
    if operation == "dynamodb.TransactGetItems":
        return 0, 2 * lines
    return _DDB_UNITS.get(operation)


def sns_messages_per_order(events: Sequence[str], milestones: Sequence[str]) -> int:
    """The customer notifications the order's events trigger."""
    return sum(1 for e in events if e in milestones)


def bus_events_per_order(events: Sequence[str]) -> int:
    """Order events relayed onto the bus: one EventBridge event each."""
    return len(events)


@dataclass(frozen=True)
class Cost:
    wru: float  # per order
    rru: float
    sns_messages: float
    sqs_requests: float
    dynamodb_usd: float  # per million orders
    sns_usd: float
    sqs_usd: float
    total_usd: float
    unpriced: list[str] = field(default_factory=list)
    bus_events: float = 0.0
    bus_usd: float = 0.0


def cost_per_million(
    ops: Mapping[str, float], lines: int, sns_messages: float, bus_events: float = 0.0
) -> Cost:
    """USD per million orders from requests per order (``ops``), SNS messages
    and EventBridge events per order. Operations without a price model are
    listed in ``unpriced``."""
    wru = rru = sqs = 0.0
    unpriced: list[str] = []
    for op, n in sorted(ops.items()):
        service = op.split(".", 1)[0]
        if service == "dynamodb":
            units = capacity_per_call(op, lines)
            if units is None:
                unpriced.append(op)
                continue
            wru += n * units[0]
            rru += n * units[1]
        elif service == "sqs":
            sqs += n
        elif op not in _SNS_PUBLISH_OPS | _BUS_OPS:
            unpriced.append(op)
    ddb = (wru * PRICE_DYNAMODB_WRU + rru * PRICE_DYNAMODB_RRU) * 1e6
    sns = sns_messages * PRICE_SNS_PUBLISH * 1e6
    sqs_usd = sqs * PRICE_SQS_REQUEST * 1e6
    bus = bus_events * PRICE_EVENTBRIDGE_EVENT * 1e6
    return Cost(
        wru,
        rru,
        sns_messages,
        sqs,
        ddb,
        sns,
        sqs_usd,
        ddb + sns + sqs_usd + bus,
        unpriced,
        bus_events,
        bus,
    )


REFERENCE_NAME = (
    "the seeds' reference design (one UpdateItem per line, separate status "
    "updates, no transactions)"
)


def reference_steps(
    lines: int, history_events: int = len(HAPPY_PATH_EVENTS)
) -> list[tuple[str, str, int]]:
    """(step, operation, requests) per order of the reference design, from its
    description. Its history has one event per status the order takes, the same
    ``history_events`` events as ours (PLACED included)."""
    if lines < 1:
        raise ValueError("an order has at least one line")
    return [
        ("POST: price of each line", "dynamodb.GetItem", lines),
        ("POST: the order", "dynamodb.PutItem", 1),
        ("reserve: stock of each line", "dynamodb.UpdateItem", lines),
        ("reserve: status RESERVED", "dynamodb.UpdateItem", 1),
        ("payment: the charge", "dynamodb.PutItem", 1),
        ("payment: status PAID", "dynamodb.UpdateItem", 1),
        ("ship: status SHIPPED, COMPLETED", "dynamodb.UpdateItem", 2),
        ("history: one event per status", "dynamodb.PutItem", history_events),
    ]


def reference_per_order(lines: int, sns_requests: Mapping[str, float]) -> dict[str, float]:
    """Requests per order of the reference design by operation; its SNS and
    EventBridge requests are ours (it sends the same messages and events)."""
    out: dict[str, float] = {}
    for _, op, n in reference_steps(lines):
        out[op] = out.get(op, 0) + n
    for op, extra in sns_requests.items():
        out[op] = out.get(op, 0) + extra
    return dict(sorted(out.items()))


def total(ops: Mapping[str, float]) -> float:
    return sum(ops.values())


def item_size(item: Mapping[str, Any]) -> int:
    """Approximate DynamoDB item size in bytes (names + values, AWS's rules)."""
    return sum(len(name.encode()) + _value_size(v) for name, v in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    return sum(len(str(x).encode()) for x in v)  # SS, NS, BS


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


# --- the whole bill, measured ------------------------------------------------------
BILL_NOTES = [
    "DynamoDB units are the emulator's bill of every request (devstack.capacity): each "
    "write on the larger of the item before and after it, per started KB, twice in a "
    "transaction; reads per 4 KB, half when eventually consistent; each global secondary "
    "index's own writes (per KB of the projected item, a changed index key a delete and a "
    "put) included.",
    "Lambda duration is an ESTIMATE: the mean of the local invocations (this machine, "
    "moto behind every call) at each function's configured memory; API requests are "
    "timed at the client (an upper bound); the authorizer is counted once per request "
    "(at most: API Gateway caches its answer for a token 60 s) at 5 ms.",
    "SQS: a SendMessage per event a rule delivers, and for each Lambda invocation from a "
    "queue one ReceiveMessage and one DeleteMessageBatch; empty polls (about 4 requests a "
    "minute per queue whatever the traffic) are a monthly fixed cost, not per order.",
    "DynamoDB includes the saga-timeout sweep's look at each order (the stack's clock moved "
    "past the timeout after the counting, the scheduled sweep run, its orders-table units "
    "less those of the same runs with no new order added); its requests, a few per run "
    "whatever the traffic, are not in the counts.",
    "Not priced: CloudWatch Logs and metrics, X-Ray traces, data transfer, S3 (none on "
    "the order path), KMS (AWS-owned keys).",
    "The naive design gets the same Lambda, API Gateway, SQS, SNS and EventBridge lines "
    "as ours; only its DynamoDB lines differ.",
]
# Public on-demand prices, us-east-1, USD, as AWS's pricing pages published them
# in 2025 (aws.amazon.com/<service>/pricing: dynamodb on-demand, lambda x86,
# api-gateway REST, sqs standard, sns, eventbridge); not re-checked here (no
# network). Free tiers ignored.
PRICES_SOURCE = (
    "aws.amazon.com/{dynamodb,lambda,api-gateway,sqs,sns,eventbridge}/pricing, us-east-1, "
    "on-demand, as published in 2025; free tiers ignored"
)
PRICE_LAMBDA_REQUEST = 0.20 / 1e6  # per invocation
PRICE_LAMBDA_GB_SECOND = 0.0000166667  # x86, per GB-second of duration
PRICE_API_GATEWAY_REQUEST = 3.50 / 1e6  # REST API, first 333 M requests a month
PRICE_EVENTBRIDGE_ARCHIVE_GB = 0.10  # per GB of events archived (processing)
MEMORY_DEFAULT_MB = 128  # Lambda's (and Chalice's) default when config.json names none
DEPLOYED_STAGE = "prod"  # whose .chalice/config.json memory sizes are priced


@dataclass(frozen=True)
class Usage:
    """What one order used, measured on the local stack (per order)."""

    wru: float
    rru: float
    invocations: dict[str, float]  # Lambda function -> invocations per order
    duration_ms: dict[str, float]  # Lambda function -> mean duration of one invocation
    api_requests: float
    sqs_requests: float  # sends by the bus rules, receives and deletes by Lambda, the app's own
    sns_messages: float
    bus_events: float
    bus_event_bytes: float = 0.0  # mean size of one event put on the bus


def memory_sizes(config: Mapping[str, Any], stage: str = DEPLOYED_STAGE) -> dict[str, int]:
    """Each function's memory (MB) from .chalice/config.json: the stage's
    per-function value, else the stage's, else the top level's; ``*`` is
    the default for a function the file does not name."""
    stage_cfg = config.get("stages", {}).get(stage, {})
    default = int(
        stage_cfg.get("lambda_memory_size", config.get("lambda_memory_size", MEMORY_DEFAULT_MB))
    )
    sizes = {"*": default}
    for name, fn in stage_cfg.get("lambda_functions", {}).items():
        if "lambda_memory_size" in fn:
            sizes[name] = int(fn["lambda_memory_size"])
    return sizes


def gb_seconds(usage: Usage, memory: Mapping[str, int]) -> float:
    """Lambda duration per order, in GB-seconds, at each function's memory."""
    return sum(
        n * usage.duration_ms.get(fn, 0.0) / 1000 * memory.get(fn, memory["*"]) / 1024
        for fn, n in usage.invocations.items()
    )


BillLine = tuple[str, str, float]  # item, quantity per order, USD per million orders


def bill(usage: Usage, memory: Mapping[str, int]) -> list[BillLine]:
    """The per-million-orders bill, a line per cost item (the last: total)."""
    invocations = sum(usage.invocations.values())
    gbs = gb_seconds(usage, memory)
    archive_gb = usage.bus_events * usage.bus_event_bytes / 1e9
    lines: list[BillLine] = [
        ("DynamoDB write units", f"{usage.wru:.2f} WRU", usage.wru * PRICE_DYNAMODB_WRU * 1e6),
        ("DynamoDB read units", f"{usage.rru:.2f} RRU", usage.rru * PRICE_DYNAMODB_RRU * 1e6),
        ("DynamoDB Streams reads (by Lambda)", "free", 0.0),
        (
            "Lambda invocations",
            f"{invocations:.2f}",
            invocations * PRICE_LAMBDA_REQUEST * 1e6,
        ),
        ("Lambda duration (estimate)", f"{gbs:.4f} GB-s", gbs * PRICE_LAMBDA_GB_SECOND * 1e6),
        (
            "API Gateway requests",
            f"{usage.api_requests:.2f}",
            usage.api_requests * PRICE_API_GATEWAY_REQUEST * 1e6,
        ),
        (
            "SQS requests",
            f"{usage.sqs_requests:.2f}",
            usage.sqs_requests * PRICE_SQS_REQUEST * 1e6,
        ),
        ("SNS messages", f"{usage.sns_messages:.2f}", usage.sns_messages * PRICE_SNS_PUBLISH * 1e6),
        (
            "EventBridge events",
            f"{usage.bus_events:.2f}",
            usage.bus_events * PRICE_EVENTBRIDGE_EVENT * 1e6,
        ),
        (
            "EventBridge archive",
            f"{usage.bus_events * usage.bus_event_bytes / 1024:.1f} KB",
            archive_gb * PRICE_EVENTBRIDGE_ARCHIVE_GB * 1e6,
        ),
    ]
    lines.append(("total", "", sum(usd for _, _, usd in lines)))
    return lines


@dataclass(frozen=True)
class ItemSizes:
    """Bytes of the items both designs write, measured from ours."""

    order: float  # the order item
    event: float  # one history event
    product: float  # a catalog item
    largest: int = 0  # the largest order-table item seen


def reference_capacity(lines: int, sizes: ItemSizes) -> tuple[float, float]:
    """(WRU, RRU) per order of the reference design (``reference_steps``),
    each request billed on the size of the item it writes or reads."""
    from devstack.capacity import READ_UNIT_BYTES, WRITE_UNIT_BYTES, units

    order = units(round(sizes.order), WRITE_UNIT_BYTES)
    event = units(round(sizes.event), WRITE_UNIT_BYTES)
    product_w = units(round(sizes.product), WRITE_UNIT_BYTES)
    product_r = units(round(sizes.product), READ_UNIT_BYTES)
    wru = order + lines * product_w + 4 * order + 1 + len(HAPPY_PATH_EVENTS) * event
    rru = lines * product_r  # each price read strongly consistent
    return float(wru), float(rru)


def measured_usage(
    orders: int,
    capacity_by_table: Mapping[str, Mapping[str, float]],
    deliveries: Sequence[Mapping[str, Any]],
    api_ms: Sequence[float],
    *,
    rule_sends: float,
    app_sqs: float,
    sns_messages: float,
    bus_events: float,
    bus_event_bytes: float = 0.0,
) -> Usage:
    """Per-order usage from what the stack measured for ``orders`` orders:
    the emulator's DynamoDB bill, the event-source invocations (each SQS one
    a ReceiveMessage and a DeleteMessageBatch by Lambda's poller), and one
    API request per order (the REST API function; the authorizer too, at
    most: API Gateway caches its answer for a token 60 s)."""
    if orders <= 0:
        raise ValueError("orders must be positive")
    wru = sum(float(t.get("wru", 0)) for t in capacity_by_table.values())
    rru = sum(float(t.get("rru", 0)) for t in capacity_by_table.values())
    count: Counter[str] = Counter()
    total_ms: dict[str, float] = {}
    polls = 0
    for d in deliveries:
        count[str(d["handler"])] += 1
        total_ms[str(d["handler"])] = total_ms.get(str(d["handler"]), 0.0) + float(d["ms"])
        if d.get("kind") == "sqs":
            polls += 1
    api_mean = sum(api_ms) / len(api_ms) if api_ms else 0.0
    invocations = {fn: n / orders for fn, n in sorted(count.items())}
    invocations["api_handler"] = len(api_ms) / orders
    invocations["jwt_auth"] = len(api_ms) / orders
    duration = {fn: total_ms[fn] / count[fn] for fn in count}
    duration["api_handler"] = api_mean  # client-side POST time: an upper bound
    duration["jwt_auth"] = 5.0  # not measured locally (inline); an HS256 check is ~ms
    return Usage(
        wru=wru / orders,
        rru=rru / orders,
        invocations=invocations,
        duration_ms=duration,
        api_requests=len(api_ms) / orders,
        sqs_requests=(rule_sends + 2 * polls + app_sqs) / orders,
        sns_messages=sns_messages,
        bus_events=bus_events,
        bus_event_bytes=bus_event_bytes,
    )


# --- talking to the stack ------------------------------------------------------
@dataclass
class LatencyResult:
    orders: int
    clients: int
    lines: int
    wall_s: float
    orders_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: list[str]


@dataclass
class CountResult:
    orders: int
    lines: int
    counts: dict[str, int]
    injected: dict[str, int]
    per_order: dict[str, float]
    unexplained: list[str]
    statuses: dict[str, int]
    events_per_order: float
    sns_messages_per_order: float
    bus_events_per_order: float
    cost: Cost
    largest_item_bytes: int
    errors: list[str]
    # The whole bill's inputs, measured (None when the stack could not say).
    usage: Usage | None = None
    sizes: ItemSizes | None = None
    capacity_by_table: dict[str, dict[str, float]] = field(default_factory=dict)


def token(role: str, sub: str) -> str:
    return subprocess.check_output(
        [sys.executable, "-m", "tools", "token", "--role", role, "--sub", sub],
        text=True,
        cwd=ROOT,
    ).strip()


class Api:
    """One ``requests.Session`` per thread against the stack's API."""

    def __init__(self, base: str, bearer: str, timeout: float = 30) -> None:
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {bearer}"}
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> Any:
        import requests

        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            s.headers.update(self.headers)
        return s

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self._session().request(method, self.base + path, json=body, timeout=self.timeout)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()


def create_products(admin: Api, count: int, stock: int) -> list[str]:
    skus = [f"bench-{i}" for i in range(count)]
    for sku in skus:
        admin.call(
            "PUT",
            f"/products/{sku}",
            {"name": f"Bench {sku}", "priceCents": 1299, "stock": stock, "lowStockThreshold": 10},
        )
    return skus


def order_body(skus: Sequence[str], index: int, lines: int) -> dict[str, Any]:
    chosen = [skus[(index + j) % len(skus)] for j in range(lines)]
    return {
        "items": [{"sku": s, "quantity": 1} for s in chosen],
        "paymentToken": "tok_ok",
        "shippingAddress": {
            "name": "Bench Customer",
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        },
    }


def _run_all(n: int, clients: int, task: Callable[[int], Any], label: str) -> list[Any]:
    """``task(0..n-1)`` on ``clients`` threads; progress on stderr every tenth."""
    lock = threading.Lock()
    done = [0]
    start = time.perf_counter()
    step = max(5, n // 10)

    def run(i: int) -> Any:
        result = task(i)
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == n:
                print(
                    f"   [{label}] {done[0]}/{n} after {time.perf_counter() - start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        return result

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(run, range(n)))


def measure_latency(
    api: Api,
    skus: Sequence[str],
    *,
    n: int,
    clients: int,
    lines: int,
    poll_s: float = 0.02,
    order_timeout_s: float = 60,
) -> LatencyResult:
    # One order not terminal in time means the saga is stuck: place no more.
    stalled = threading.Event()

    def one(i: int) -> tuple[float, float, str]:
        start = time.perf_counter()
        if stalled.is_set():
            return start, start, "SKIPPED"
        try:
            order_id = api.call("POST", "/orders", order_body(skus, i, lines), 201)["orderId"]
            deadline = start + order_timeout_s
            while time.perf_counter() < deadline:
                status = str(api.call("GET", f"/orders/{order_id}")["status"])
                if status in TERMINAL:
                    return start, time.perf_counter(), status
                time.sleep(poll_s)
            stalled.set()
            return start, time.perf_counter(), "TIMEOUT"
        except Exception as exc:  # noqa: BLE001 - a failed order is a result, not a crash
            return start, time.perf_counter(), f"ERROR: {exc}"

    results = [r for r in _run_all(n, clients, one, "latency") if r[2] != "SKIPPED"]
    first = min(r[0] for r in results)
    last = max(r[1] for r in results)
    latencies = [(end - start) * 1000 for start, end, s in results if s in TERMINAL]
    statuses = Counter(s if not s.startswith("ERROR") else "ERROR" for _, _, s in results)
    if len(results) < n:
        statuses["SKIPPED"] = n - len(results)
    wall = last - first
    return LatencyResult(
        orders=n,
        clients=clients,
        lines=lines,
        wall_s=wall,
        # == n / wall when every order ends; a stall counts only those that did.
        orders_per_s=len(latencies) / wall,
        p50_ms=percentile(latencies, 50) if latencies else math.nan,
        p95_ms=percentile(latencies, 95) if latencies else math.nan,
        max_ms=max(latencies, default=math.nan),
        statuses=dict(sorted(statuses.items())),
        errors=sorted({s for _, _, s in results if s.startswith("ERROR")})[:5],
    )


def _capacity(stack: Any, reset: bool = False) -> dict[str, dict[str, float]]:
    """The emulator's DynamoDB bill per table (devstack.capacity); reset first if asked."""
    import urllib.request

    from devstack.capacity import CAPACITY_ROUTE

    request = urllib.request.Request(  # noqa: S310 - the local emulator
        stack.emulator_url.rstrip("/") + CAPACITY_ROUTE, method="POST" if reset else "GET"
    )
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310
        return dict(json.loads(r.read())["tables"])


# Past the saga timeout (900 s) and one run of the 5-minute sweep schedule.
SWEEP_CLOCK_SECONDS = 900 + 300


def _sweep_look(stack: Any) -> dict[str, dict[str, float]]:
    """The DynamoDB bill of the saga-timeout sweep's look at the orders placed
    since its last one: the stack's clock moved past the timeout so the
    scheduled sweep runs (it reads each order once, as it reaches that age)."""
    _capacity(stack, reset=True)
    stack.control.advance_clock(SWEEP_CLOCK_SECONDS)
    stack.control.drain(120)
    return _capacity(stack)


def _rule_sends(stack: Any) -> int:
    """Events the bus rules have sent to SQS targets so far (each a SendMessage)."""
    return sum(
        int(rule.get("matched", 0))
        for rule in stack.control.status().get("rules", [])
        if any(str(t).startswith("arn:aws:sqs:") for t in rule.get("targets", []))
    )


def _sizes(ddb: Any, order_ids: Sequence[str], sku: str) -> ItemSizes:
    """The sizes of the first 10 orders' records and of a product; an event's
    is what one history entry of a record would be as an item of its own
    (its order's key, ``EVENT#nnnn``, the entry): how the naive design keeps
    its history."""
    tables = ddb.list_tables()["TableNames"]
    orders_table = next(t for t in tables if t.endswith("-orders"))
    products_table = next(t for t in tables if t.endswith("-products"))
    order_sizes, event_sizes, largest = [], [], 0
    for order_id in order_ids[:10]:
        for item in ddb.query(
            TableName=orders_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}},
        )["Items"]:
            sk, size = item["sk"]["S"], item_size(item)
            largest = max(largest, size)
            if sk != "ORDER":
                continue  # a notification mark
            order_sizes.append(size)
            for n, entry in enumerate(item.get("history", {}).get("L", []), 1):
                alone = {"pk": item["pk"], "sk": {"S": f"EVENT#{n:04d}"}, **entry["M"]}
                event_sizes.append(item_size(alone))
    product = ddb.get_item(
        TableName=products_table, Key={"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "PRODUCT"}}
    )
    product_bytes = item_size(product["Item"]) if "Item" in product else 200
    return ItemSizes(
        order=max(order_sizes, default=0),
        event=sum(event_sizes) / max(len(event_sizes), 1),
        product=product_bytes,
        largest=largest,
    )


def measure_requests(
    stack: Any, api: Api, skus: Sequence[str], *, m: int, clients: int, lines: int
) -> CountResult:
    from chalicelib.orders.notifications import MILESTONES

    stack.control.drain(120)  # nothing of an earlier phase still in flight
    stack.control.reset_aws_calls()
    _capacity(stack, reset=True)
    sends_before = _rule_sends(stack)
    started = time.time()
    errors: list[str] = []
    post_ms: list[float] = []

    def place(i: int) -> str | None:
        try:
            t = time.perf_counter()
            order = api.call("POST", "/orders", order_body(skus, i, lines), 201)
            post_ms.append((time.perf_counter() - t) * 1000)
            return str(order["orderId"])
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))
            return None

    ids = [i for i in _run_all(m, clients, place, f"count {lines} line(s)") if i]
    stack.control.drain(120)
    calls = stack.control.aws_calls()
    by_table = _capacity(stack)
    # The sweep's look at these orders is part of each order's bill too
    # (its requests are a few per run, whatever the traffic: not counted).
    # Only the orders table's (the other jobs the clock runs, the dead-letter
    # watch, ..., cost the same whatever the traffic), less what the same runs
    # cost with no new order (reading the marks, the empty Queries).
    sweep, idle = _sweep_look(stack), _sweep_look(stack)
    for table, bill_ in sweep.items():
        if not table.endswith("-orders"):
            continue
        into = by_table.setdefault(table, {})
        for unit in ("wru", "rru", "indexWru"):
            extra = float(bill_.get(unit, 0)) - float(idle.get(table, {}).get(unit, 0))
            into[unit] = float(into.get(unit, 0)) + max(extra, 0.0)
    deliveries = [d for d in stack.control.deliveries() if float(d["at"]) >= started]
    sends = _rule_sends(stack) - sends_before
    # Only now: these GETs are app requests too.
    orders = [api.call("GET", f"/orders/{i}") for i in ids]
    statuses = Counter(str(o["status"]) for o in orders)
    counts = {str(k): int(v) for k, v in sorted(calls["sent"].items())}
    ops = per_order(counts, m)
    events = sum(int(o["version"]) for o in orders) / max(len(orders), 1)
    messages = sns_messages_per_order(HAPPY_PATH_EVENTS, list(MILESTONES))
    bus_events = bus_events_per_order(HAPPY_PATH_EVENTS)
    if events != len(HAPPY_PATH_EVENTS):
        errors.append(
            f"{events:.2f} events per order, not {len(HAPPY_PATH_EVENTS)}: "
            "the SNS message and bus event estimates assume the happy path"
        )
    sizes = _sizes(stack.client("dynamodb"), ids, skus[0])
    usage = measured_usage(
        m,
        by_table,
        deliveries,
        post_ms,
        rule_sends=sends,
        app_sqs=sum(n for op, n in counts.items() if op.startswith("sqs.")),
        sns_messages=messages,
        bus_events=bus_events,
        bus_event_bytes=sizes.event,
    )
    return CountResult(
        orders=m,
        lines=lines,
        counts=counts,
        injected=dict(calls.get("injected") or {}),
        per_order=ops,
        unexplained=unexplained(ops),
        statuses=dict(sorted(statuses.items())),
        events_per_order=events,
        sns_messages_per_order=messages,
        bus_events_per_order=bus_events,
        cost=cost_per_million(ops, lines, messages, bus_events),
        largest_item_bytes=sizes.largest,
        errors=errors[:5],
        usage=usage,
        sizes=sizes,
        capacity_by_table=by_table,
    )


# --- reporting -------------------------------------------------------------------
def latency_table(r: LatencyResult) -> str:
    rows = [
        [
            r.orders,
            r.clients,
            r.lines,
            _f(r.wall_s),
            _f(r.orders_per_s, 1),
            _f(r.p50_ms, 0),
            _f(r.p95_ms, 0),
            _f(r.max_ms, 0),
            ", ".join(f"{k} {v}" for k, v in r.statuses.items()),
        ]
    ]
    return format_table(
        [
            "orders",
            "clients",
            "lines",
            "wall s",
            "orders/s",
            "p50 ms",
            "p95 ms",
            "max ms",
            "final status",
        ],
        rows,
        right=range(8),
    )


def requests_table(r: CountResult) -> str:
    rows = [
        [op, _f(n), REASONS.get(op) or "!! NO REASON: unexplained request"]
        for op, n in r.per_order.items()
    ]
    rows.append(["total", _f(total(r.per_order)), ""])
    return format_table(["operation", "requests/order", "why"], rows, right=[1])


def comparison_rows(r: CountResult, memory: Mapping[str, int] | None = None) -> list[list[object]]:
    """Requests, units and dollars of both designs: the measured whole bill
    when the run measured it (and ``memory`` is given), else the
    request-count model (``cost_per_million``)."""
    sns = {op: n for op, n in r.per_order.items() if op.startswith(_MESSAGING)}
    ref = reference_per_order(r.lines, sns)
    ref_cost = cost_per_million(ref, r.lines, r.sns_messages_per_order, r.bus_events_per_order)
    ours_units = (r.cost.wru, r.cost.rru, r.cost.total_usd)
    ref_units = (ref_cost.wru, ref_cost.rru, ref_cost.total_usd)
    naive = naive_usage(r)
    if memory is not None and r.usage is not None and naive is not None:
        ours_units = (r.usage.wru, r.usage.rru, bill(r.usage, memory)[-1][2])
        ref_units = (naive.wru, naive.rru, bill(naive, memory)[-1][2])
    ours_total, ref_total = total(r.per_order), total(ref)
    ddb_ours = sum(n for op, n in r.per_order.items() if op.startswith("dynamodb."))
    ddb_ref = sum(n for op, n in ref.items() if op.startswith("dynamodb."))
    ours_r, ref_r = round(ours_total, 6), round(ref_total, 6)  # sums of floats
    verdict = "fewer" if ours_r < ref_r else ("SAME" if ours_r == ref_r else "MORE (target missed)")
    return [
        [
            r.lines,
            "ours (measured)",
            _f(ddb_ours),
            _f(ours_total),
            _f(ours_units[0], 1),
            _f(ours_units[1], 1),
            f"${ours_units[2]:,.2f}",
            "",
        ],
        [
            r.lines,
            "reference (model)",
            _f(ddb_ref),
            _f(ref_total),
            _f(ref_units[0], 1),
            _f(ref_units[1], 1),
            f"${ref_units[2]:,.2f}",
            "",
        ],
        [
            r.lines,
            "ours / reference",
            _f(ddb_ours / ddb_ref),
            _f(ours_total / ref_total),
            _f(ours_units[0] / ref_units[0]),
            "",
            _f(ours_units[2] / ref_units[2]),
            f"requests: {verdict}",
        ],
    ]


def comparison_table(
    results: Sequence[CountResult], memory: Mapping[str, int] | None = None
) -> str:
    rows = [row for r in results for row in comparison_rows(r, memory)]
    return format_table(
        [
            "lines",
            "design",
            "DynamoDB req/order",
            "all req/order",
            "WRU/order",
            "RRU/order",
            "USD per 1M orders (whole bill)",
            "verdict",
        ],
        rows,
        right=[0, 2, 3, 4, 5, 6],
    )


def reference_table(lines: int) -> str:
    rows = [[step, op, n] for step, op, n in reference_steps(lines)]
    rows.append(["same SNS and EventBridge requests as ours", "sns.*, eventbridge.*", "="])
    return format_table(["reference step", "operation", "requests/order"], rows, right=[2])


def naive_usage(r: CountResult) -> Usage | None:
    """The reference design's usage: its DynamoDB units from its steps, billed
    on our measured item sizes; every other item the same as ours (it sends
    the same events and messages through the same functions)."""
    if r.usage is None or r.sizes is None:
        return None
    wru, rru = reference_capacity(r.lines, r.sizes)
    return dataclasses.replace(r.usage, wru=wru, rru=rru)


def bill_table(ours: Sequence[BillLine], naive: Sequence[BillLine]) -> str:
    rows = [
        [item, qty, f"${usd:,.2f}", nqty, f"${nusd:,.2f}"]
        for (item, qty, usd), (_, nqty, nusd) in zip(ours, naive, strict=True)
    ]
    return format_table(
        ["item", "ours per order", "ours per 1M", "naive per order", "naive per 1M"],
        rows,
        right=[1, 2, 3, 4],
    )


def memory_table(usage: Usage, memory: Mapping[str, int]) -> str:
    rows = [
        [
            fn,
            _f(n),
            _f(usage.duration_ms.get(fn, 0.0), 1),
            memory.get(fn, memory["*"]),
            f"{n * usage.duration_ms.get(fn, 0.0) / 1000 * memory.get(fn, memory['*']) / 1024:.5f}",
        ]
        for fn, n in sorted(usage.invocations.items())
    ]
    return format_table(
        ["function", "invocations/order", "mean ms (local)", "memory MB", "GB-s/order"],
        rows,
        right=[1, 2, 3, 4],
    )


def summary_line(results: Sequence[CountResult], memory: Mapping[str, int]) -> str | None:
    """``cost: ours/naive 1-line X.XX 3-line Y.YY; WRU/order 1-line A 3-line B``."""
    ratios, wrus = [], []
    for r in results:
        naive = naive_usage(r)
        if r.usage is None or naive is None:
            return None
        ratio = bill(r.usage, memory)[-1][2] / bill(naive, memory)[-1][2]
        ratios.append(f"{r.lines}-line {ratio:.2f}")
        wrus.append(f"{r.lines}-line {r.usage.wru:.1f}")
    return f"cost: ours/naive {' '.join(ratios)}; WRU/order {' '.join(wrus)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders in the latency phase")
    parser.add_argument(
        "--count-orders", type=int, default=50, help="orders in each request-counting phase"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lines", type=int, default=1, help="lines per order (3 is added)")
    parser.add_argument("--poll-ms", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="24 orders, 12 for counting")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.count_orders = 24, 12
    shapes = list(dict.fromkeys([args.lines, REFERENCE_LINES]))
    n_skus = max(4, *shapes)
    stock = 10_000

    from devstack.client import DrainTimedOut
    from devstack.eventsources import MAX_BATCHING_WINDOW_ENV
    from devstack.testing import running_stack

    # ``timeout`` or a CI cancel sends SIGTERM: stop the stack on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"starting the stack ({args.orders} + {len(shapes)} x {args.count_orders} orders)...",
        flush=True,
    )
    counted: list[CountResult] = []
    stall: dict[str, Any] | None = None
    # Lambda's batching windows kept, as deployed: they are part of the bill.
    with running_stack(env={MAX_BATCHING_WINDOW_ENV: ""}) as stack:
        admin = Api(stack.api_url, token("admin", "ops-1"))
        customer = Api(stack.api_url, token("customer", "bench-customer"))
        skus = create_products(admin, n_skus, stock)
        stack.control.drain(60)
        latency = measure_latency(
            customer,
            skus,
            n=args.orders,
            clients=args.clients,
            lines=args.lines,
            poll_s=args.poll_ms / 1000,
        )
        try:
            if latency.statuses.get("TIMEOUT"):
                raise DrainTimedOut("an order of the latency phase never ended")
            _sweep_look(stack)  # the latency phase's orders: not a shape's bill
            for n in shapes:
                counted.append(
                    measure_requests(
                        stack, customer, skus, m=args.count_orders, clients=args.clients, lines=n
                    )
                )
        except DrainTimedOut as exc:
            # The saga is stuck: keep what the stack says for whoever debugs it.
            stall = {
                "error": str(exc),
                "status": stack.control.status(),
                "awsCalls": stack.control.aws_calls(),
            }

    print(
        f"\n== 1. throughput and latency ({args.clients} clients, POST then poll every "
        f"{args.poll_ms:g} ms until terminal)"
    )
    print(latency_table(latency))
    for e in latency.errors:
        print(f"   error: {e}")
    for r in counted:
        print(
            f"\n== 2. AWS requests per order, {r.lines} line(s), {r.orders} orders "
            f"(final: {', '.join(f'{k} {v}' for k, v in r.statuses.items())})"
        )
        print(requests_table(r))
        if r.unexplained:
            print(f"   FLAGGED, no reason in REASONS: {', '.join(r.unexplained)}")
        if r.injected:
            print(f"   injected failures (should be none): {r.injected}")
        for e in r.errors:
            print(f"   error: {e}")
    memory = memory_sizes(json.loads((ROOT / ".chalice" / "config.json").read_text()))
    print(f"\n== 3. against {REFERENCE_NAME}: requests (its DynamoDB steps, our messaging)")
    for n in shapes:
        print(reference_table(n) + "\n")
    if counted:
        print(comparison_table(counted, memory))
    for r in counted:
        naive = naive_usage(r)
        if r.usage is None or naive is None or r.sizes is None:
            continue
        print(
            f"\n== 4. the whole bill per million orders, {r.lines} line(s), measured "
            f"(ours) and modelled on our item sizes (naive); {PRICES_SOURCE}"
        )
        print(bill_table(bill(r.usage, memory), bill(naive, memory)))
        print(
            f"   item sizes measured: order {r.sizes.order:.0f} B, event {r.sizes.event:.0f} B, "
            f"product {r.sizes.product:.0f} B; DynamoDB by table: "
            + ", ".join(
                f"{t.rsplit('-', 1)[-1]} {v['wru']:.0f} WRU ({v.get('indexWru', 0):.0f} of "
                f"them its indexes')/{v['rru']:.0f} RRU"
                for t, v in r.capacity_by_table.items()
            )
            + f" for {r.orders} orders"
        )
        print(f"\n   Lambda per order ({DEPLOYED_STAGE}'s memory sizes):")
        print("   " + memory_table(r.usage, memory).replace("\n", "\n   "))
    print("\n   " + "\n   ".join(BILL_NOTES))
    line = summary_line(counted, memory)
    if line:
        print("\n" + line)
    if stall is not None:
        sources = stall["status"].get("sources", [])
        print(
            f"\n!! THE SAGA STALLED: {stall['error']}; no request counts.\n"
            f"   deliveries {stall['status'].get('byOutcome')}, busy sources "
            f"{[s['handler'] for s in sources if s.get('busy')]}, app AWS calls so far "
            f"{stall['awsCalls'].get('sent')}"
        )

    report = {
        "benchmark": "orders",
        "python": platform.python_version(),
        "config": {
            "orders": args.orders,
            "countOrders": args.count_orders,
            "clients": args.clients,
            "lines": shapes,
            "pollMs": args.poll_ms,
            "quick": args.quick,
        },
        "prices": {
            "region": PRICE_REGION,
            "dynamodbWru": PRICE_DYNAMODB_WRU,
            "dynamodbRru": PRICE_DYNAMODB_RRU,
            "snsPublish": PRICE_SNS_PUBLISH,
            "sqsRequest": PRICE_SQS_REQUEST,
            "notes": COST_NOTES,
        },
        "bill": {
            "source": PRICES_SOURCE,
            "notes": BILL_NOTES,
            "memory": memory,
            "shapes": [
                {
                    "lines": r.lines,
                    "ours": bill(r.usage, memory),
                    "naive": bill(nu, memory),
                }
                for r in counted
                if r.usage is not None and (nu := naive_usage(r)) is not None
            ],
            "summary": summary_line(counted, memory),
        },
        "latency": asdict(latency),
        "requests": [asdict(r) for r in counted],
        "stall": stall,
        "reference": {
            "name": REFERENCE_NAME,
            "shapes": [
                {
                    "lines": r.lines,
                    "steps": [
                        {"step": s, "operation": op, "requests": n}
                        for s, op, n in reference_steps(r.lines)
                    ],
                    "perOrder": (
                        ref := reference_per_order(
                            r.lines,
                            {op: n for op, n in r.per_order.items() if op.startswith("sns.")},
                        )
                    ),
                    "cost": asdict(
                        cost_per_million(
                            ref, r.lines, r.sns_messages_per_order, r.bus_events_per_order
                        )
                    ),
                    "oursTotal": total(r.per_order),
                    "referenceTotal": total(ref),
                    "oursFewer": total(r.per_order) < total(ref),
                }
                for r in counted
            ],
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"\nwrote {shown}")
    incomplete = any(r.statuses != {"COMPLETED": r.orders} for r in counted)
    return 1 if incomplete or stall is not None else 0


if __name__ == "__main__":
    sys.exit(main())
