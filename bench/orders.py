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
3. **cost** per million orders from those counts, with the public on-demand
   prices below (an ESTIMATE: assumptions are printed with it).
4. **reference**: the same arithmetic for the seeds' reference design, modelled
   analytically from its description (``reference_steps``), side by side.

    .venv/bin/python bench/orders.py [--orders 200] [--count-orders 50] [--lines 1] [--quick]

Prints the tables and writes ``bench/results/orders.json``. Exit code 0, or 1
when an order of the counting phase did not complete (its counts would not be
those of the happy path) or the saga stalled: an order of the latency phase not
terminal after 60 s stops the run, and the stack's status and AWS call counts
at that moment go into the JSON (``stall``).
"""

from __future__ import annotations

import argparse
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
COST_NOTES = [
    "ESTIMATE from request counts, not a bill: on-demand prices, us-east-1, free tiers ignored.",
    "DynamoDB: every item written is assumed <= 1 KB (1 WRU; 2 WRU inside a transaction) "
    "and every item read <= 4 KB (1 RRU strongly consistent; 2 in a transaction).",
    "TransactWriteItems items per call come from the code (counts cannot tell): "
    "place = 2 (order + event), reserve = lines + 1 (a stock update per line + the "
    "reservation record), each status change = 2 (order + event).",
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
        "order + event(s) appended atomically: place (1), stock reserve of all lines + "
        "reservation record (1), reserved (1), paid (1), shipped + completed (1) = 5"
    ),
    "dynamodb.PutItem": (
        "payment claimed PENDING before charging (1) + notification dedupe marker "
        "NOTIFIED#type per milestone: placed, paid, shipped, completed (4) = 5"
    ),
    "dynamodb.UpdateItem": (
        "simulated provider: one idempotent charge call (1; a real provider is an HTTP "
        "call instead, not an AWS request)"
    ),
    "dynamodb.GetItem": (
        "GET /orders/{id} (not in the counting phase); re-read after a lost conditional "
        "write, idempotency lookup, reservation state on redelivery: 0 on the happy path"
    ),
    "dynamodb.Query": "GET /orders, /orders/{id}/events: 0 in the counting phase",
    "dynamodb.DeleteItem": "notification mark undone after a failed send: 0 on the happy path",
    "eventbridge.PutEvents": (
        "stream relay: 1 call per stream batch, <= 10 events per call (5 events/order)"
    ),
    "sns.PublishBatch": (
        "notify step: 1 call per SQS batch of milestones (4/order, <= 10 per call)"
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
    """Average items of our TransactWriteItems calls for one order, from the code:
    place (order + event), reserve (one per line + reservation), reserved and
    paid (order + event each), shipped + completed in one write (order + 2 events)."""
    if lines < 1:
        raise ValueError("an order has at least one line")
    items = 2 + (lines + 1) + 2 + 2 + 3
    return items / 5


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


def _largest_item(ddb: Any, table: str, order_ids: Sequence[str]) -> int:
    """Largest order-table item of these orders (order, events, marks), in bytes."""
    largest = 0
    for order_id in order_ids[:10]:
        items = ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}},
        )["Items"]
        largest = max([largest, *(item_size(i) for i in items)])
    return largest


def measure_requests(
    stack: Any, api: Api, skus: Sequence[str], *, m: int, clients: int, lines: int
) -> CountResult:
    from chalicelib.orders.notifications import MILESTONES

    stack.control.drain(120)  # nothing of an earlier phase still in flight
    stack.control.reset_aws_calls()
    errors: list[str] = []

    def place(i: int) -> str | None:
        try:
            return str(api.call("POST", "/orders", order_body(skus, i, lines), 201)["orderId"])
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))
            return None

    ids = [i for i in _run_all(m, clients, place, f"count {lines} line(s)") if i]
    stack.control.drain(120)
    calls = stack.control.aws_calls()
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
    ddb = stack.client("dynamodb")
    table = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-orders"))
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
        largest_item_bytes=_largest_item(ddb, table, ids),
        errors=errors[:5],
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


def comparison_rows(r: CountResult) -> list[list[object]]:
    sns = {op: n for op, n in r.per_order.items() if op.startswith(_MESSAGING)}
    ref = reference_per_order(r.lines, sns)
    ref_cost = cost_per_million(ref, r.lines, r.sns_messages_per_order, r.bus_events_per_order)
    ours_total, ref_total = total(r.per_order), total(ref)
    ddb_ours = sum(n for op, n in r.per_order.items() if op.startswith("dynamodb."))
    ddb_ref = sum(n for op, n in ref.items() if op.startswith("dynamodb."))
    verdict = (
        "fewer"
        if ours_total < ref_total
        else ("SAME" if ours_total == ref_total else "MORE (target missed)")
    )
    return [
        [
            r.lines,
            "ours (measured)",
            _f(ddb_ours),
            _f(ours_total),
            _f(r.cost.wru, 1),
            _f(r.cost.rru, 1),
            f"${r.cost.total_usd:,.2f}",
            "",
        ],
        [
            r.lines,
            "reference (model)",
            _f(ddb_ref),
            _f(ref_total),
            _f(ref_cost.wru, 1),
            _f(ref_cost.rru, 1),
            f"${ref_cost.total_usd:,.2f}",
            "",
        ],
        [
            r.lines,
            "ours / reference",
            _f(ddb_ours / ddb_ref),
            _f(ours_total / ref_total),
            _f(r.cost.wru / ref_cost.wru),
            "",
            _f(r.cost.total_usd / ref_cost.total_usd),
            f"ours: {verdict}",
        ],
    ]


def comparison_table(results: Sequence[CountResult]) -> str:
    rows = [row for r in results for row in comparison_rows(r)]
    return format_table(
        [
            "lines",
            "design",
            "DynamoDB req/order",
            "all req/order",
            "WRU/order",
            "RRU/order",
            "USD per 1M orders",
            "verdict",
        ],
        rows,
        right=[0, 2, 3, 4, 5, 6],
    )


def cost_table(r: CountResult) -> str:
    c = r.cost
    rows = [
        [
            "DynamoDB writes",
            f"{_f(c.wru, 1)} WRU",
            f"${PRICE_DYNAMODB_WRU * 1e6:.3f}/M WRU",
            f"${c.wru * PRICE_DYNAMODB_WRU * 1e6:,.2f}",
        ],
        [
            "DynamoDB reads",
            f"{_f(c.rru, 1)} RRU",
            f"${PRICE_DYNAMODB_RRU * 1e6:.3f}/M RRU",
            f"${c.rru * PRICE_DYNAMODB_RRU * 1e6:,.2f}",
        ],
        [
            "SNS publishes",
            f"{_f(c.sns_messages, 1)} messages",
            f"${PRICE_SNS_PUBLISH * 1e6:.2f}/M",
            f"${c.sns_usd:,.2f}",
        ],
        [
            "EventBridge events",
            f"{_f(c.bus_events, 1)} events",
            f"${PRICE_EVENTBRIDGE_EVENT * 1e6:.2f}/M",
            f"${c.bus_usd:,.2f}",
        ],
        [
            "SQS (app calls only)",
            f"{_f(c.sqs_requests, 1)} requests",
            f"${PRICE_SQS_REQUEST * 1e6:.2f}/M",
            f"${c.sqs_usd:,.2f}",
        ],
        ["total (estimate)", "", "", f"${c.total_usd:,.2f}"],
    ]
    return format_table(
        ["item", "per order", f"price ({PRICE_REGION})", "per 1M orders"], rows, right=[1, 3]
    )


def reference_table(lines: int) -> str:
    rows = [[step, op, n] for step, op, n in reference_steps(lines)]
    rows.append(["same SNS and EventBridge requests as ours", "sns.*, eventbridge.*", "="])
    return format_table(["reference step", "operation", "requests/order"], rows, right=[2])


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
    from devstack.testing import running_stack

    # ``timeout`` or a CI cancel sends SIGTERM: stop the stack on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"starting the stack ({args.orders} + {len(shapes)} x {args.count_orders} orders)...",
        flush=True,
    )
    counted: list[CountResult] = []
    stall: dict[str, Any] | None = None
    with running_stack() as stack:
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
        print(f"\n== 3. cost per million orders, {r.lines} line(s): ESTIMATE")
        print(cost_table(r))
        if r.cost.unpriced:
            print(f"   no price model (excluded): {', '.join(r.cost.unpriced)}")
        kb = (
            "holds"
            if r.largest_item_bytes <= 1024
            else (
                "DOES NOT HOLD: such an item costs 2 WRU, 4 in a transaction; the estimate is low"
            )
        )
        print(
            f"   largest order-table item seen: ~{r.largest_item_bytes} B "
            f"(the <= 1 KB assumption {kb})"
        )
    print("\n   " + "\n   ".join(COST_NOTES))
    print(f"\n== 4. against {REFERENCE_NAME}")
    for n in shapes:
        print(reference_table(n) + "\n")
    if counted:
        print(comparison_table(counted))
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
