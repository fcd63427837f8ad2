"""Cold-start init cost of each Lambda function of the app, against a boto3 floor.

Every function of a deployed Chalice app (the REST API, the built-in
authorizer, each event handler, each pure Lambda function) imports the same
``app.py``; then its first invocation creates the boto3 clients it uses. For
each function, in a fresh interpreter, this measures

- **init**: ``import app`` + ``chalicelib.platform.aws.client(name)`` for its clients;
- **floor**: ``import boto3`` + ``Session().client(name)`` for the same clients
  (with the app's client config), i.e. what the function cannot avoid paying;

repeats both ``--repeat`` times and compares the medians. Target: init/floor
<= 1.3 for every function, and no function but image handling (a name
containing "image") imports Pillow or exifread. The children get fake settings
and credentials and an unused endpoint: creating a client makes no network
call, and none is made.

    .venv/bin/python bench/coldstart.py [--repeat 7] [--check]

It also records each function's peak resident memory at that point (VmHWM)
and sizes its memory from it (``memory_for``: the peak with headroom, the
largest photo's working set for the thumbnail function, and a floor per
function for its duration), printed beside what ``.chalice/config.json``
gives it on prod.

Prints the tables and writes ``bench/results/coldstart.json``. Exit code 0 unless
``--check`` is passed and a target is missed or a configured memory differs
from its sizing (1); 2 if a child process fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "bench" / "results" / "coldstart.json"

API_FUNCTION = "api_handler"
TARGET_RATIO = 1.3
HEAVY_MODULES = ("PIL", "exifread")
# What of Powertools every function loads at init (deployed stages log JSON:
# chalicelib.platform.logs.json_formatter). Importing it loads the package's
# __init__, i.e. Logger and Metrics; Tracer stays lazy (aws-xray-sdk is not
# installed: Lambda's active tracing records the invocations instead).
POWERTOOLS_AT_INIT = ("aws_lambda_powertools.logging.formatter",)
# The images context's S3 handlers: they need Pillow and exifread (upload) and
# are exempt from the ratio; named, not guessed from the name, so a function
# like the catalog's product_images is held to the target.
IMAGE_FUNCTIONS = frozenset({"image_uploaded", "image_removed"})
CHILD_TIMEOUT_S = 120.0

# --- memory sizes ------------------------------------------------------------------
# A function's memory: its measured peak (import + clients + first call) with
# HEADROOM for what a batch holds while it is handled, rounded up to a
# MEMORY_STEP, and never under its FLOOR. The photo function adds what
# processing the largest allowed photo takes (bench/images.py's peak RSS at
# its largest size, plus the photo's bytes). The floors are about duration,
# not memory: Lambda gives CPU in proportion to memory (one vCPU at 1,769 MB),
# and every function's cold start is about 0.23 s of CPU-bound imports here.
# - a person waits on the API and its authorizer: 512 MB (about 0.3 vCPU);
# - the order path (the relay, the saga's steps, the read models, low stock,
#   a catalog import's 10,000 validated rows): 256 MB, so a cold start stays
#   near 1.5 s and a step's CPU (parsing, request signing) does not dominate
#   its I/O: below that an I/O-bound step costs about the same GB-seconds
#   and is slower;
# - thumbnails are CPU-bound (their cost is about flat over memory): 1,024 MB
#   for a 100 MP photo in well under a second of Lambda time;
# - the rest (operators' jobs, a few runs a day or an hour): what fits.
HEADROOM = 1.5
MEMORY_STEP = 64
MEMORY_MIN = 128
FLOORS: dict[str, int] = {
    API_FUNCTION: 512,
    "jwt_auth": 512,
    **dict.fromkeys(
        (
            "relay_order_events",
            "inventory_step",
            "payments_step",
            "shipping_step",
            "notify_step",
            "analytics_step",
            "low_stock_alerts",
            "catalog_import",
        ),
        256,
    ),
    "image_uploaded": 1024,
}
PHOTO_FUNCTIONS = frozenset({"image_uploaded"})
IMAGES_RESULTS = ROOT / "bench" / "results" / "images.json"
CONFIG_PATH = ROOT / ".chalice" / "config.json"

# The boto3 clients each Lambda function creates, by function name (Chalice's
# name: the decorated function's name; "api_handler" is the whole REST API).
# Keep this in step with app.py: a registered function missing here is measured
# with DEFAULT_CLIENTS and reported in the notes.
FUNCTION_CLIENTS: dict[str, list[str]] = {
    # products, orders and images tables; S3 presigns upload forms and URLs.
    API_FUNCTION: ["dynamodb", "s3"],
    # Deployed stages read the JWT secret from SSM (local ones from the env).
    "jwt_auth": ["ssm"],
    # The saga: the stream relay puts events on the bus; each step writes and
    # may publish (low stock, notifications).
    "relay_order_events": ["events"],
    "inventory_step": ["dynamodb", "sns"],
    # The payments step: its claims and Stripe's ledger; deployed stages read
    # the Stripe secret key from SSM on the first charge.
    "payments_step": ["dynamodb", "ssm"],
    "shipping_step": ["dynamodb"],
    "notify_step": ["dynamodb", "sns"],
    "low_stock_alerts": ["sns"],
    # The saga-timeout sweep: query the orders index, cancel, alert.
    "time_out_stuck_sagas": ["dynamodb", "sns"],
    # The dead-letter watcher: DLQ depths, its own table, alerts.
    "watch_dead_letters": ["sqs", "dynamodb", "sns"],
    # The alert subscriber: its own table only.
    "record_alert": ["dynamodb"],
    # The analytics consumer: its own table only.
    "analytics_step": ["dynamodb"],
    # The catalog's image subscriber: the products table only.
    "product_images": ["dynamodb"],
    # The daily slot expiry: the images table, image events and alerts.
    "expire_upload_slots": ["dynamodb", "sns"],
    # Image handling: read the upload, write thumbnails, record, publish.
    "image_uploaded": ["s3", "dynamodb", "sns"],
    "image_removed": ["s3", "dynamodb"],
    # A catalog import: read the file, write products and the import record.
    "catalog_import": ["s3", "dynamodb"],
}
DEFAULT_CLIENTS: list[str] = ["dynamodb", "sns", "sqs"]

# What each function imports on its first invocation (the blueprints and bootstrap
# load models, services and adapters lazily): reported beside init, so the
# table shows the whole cold path, not only Lambda's INIT phase. The API's
# entry is its heaviest route (POST /orders).
_ORDERS = ["chalicelib.orders.service", "chalicelib.orders.dynamo"]
_CATALOG = [
    "chalicelib.catalog.service",
    "chalicelib.catalog.dynamo",
    "chalicelib.platform.alerts",
]
FIRST_CALL: dict[str, list[str]] = {
    API_FUNCTION: [*_ORDERS, *_CATALOG, "chalicelib.http.cursor"],
    "jwt_auth": ["jwt"],
    "relay_order_events": ["chalicelib.orders.relay", "chalicelib.platform.eventbridge"],
    "inventory_step": [
        "chalicelib.checkout.saga",
        "chalicelib.ops.failures",
        *_ORDERS,
        *_CATALOG,
        "chalicelib.platform.sns",
    ],
    # As on dev and prod: the Stripe provider and the stripe library, loaded
    # by the first charge (the local and test stages load payments.simulated).
    "payments_step": [
        "chalicelib.checkout.saga",
        "chalicelib.ops.failures",
        *_ORDERS,
        "chalicelib.payments.dynamo",
        "chalicelib.payments.stripe_provider",
        "chalicelib.platform.secrets",
        "stripe",
    ],
    "shipping_step": ["chalicelib.checkout.saga", "chalicelib.ops.failures", *_ORDERS],
    "notify_step": [
        "chalicelib.orders.consuming",
        "chalicelib.ops.failures",
        "chalicelib.orders.dynamo",
        "chalicelib.orders.notifications",
        "chalicelib.orders.sns",
        "chalicelib.platform.sns",
    ],
    "low_stock_alerts": ["chalicelib.platform.dynamo", *_CATALOG, "chalicelib.platform.sns"],
    "time_out_stuck_sagas": [
        "chalicelib.ops.service",
        *_ORDERS,
        *_CATALOG,
        "chalicelib.platform.sns",
    ],
    "watch_dead_letters": [
        "chalicelib.ops.dead_letters",
        "chalicelib.ops.sqs",
        "chalicelib.ops.dynamo",
        "chalicelib.platform.alerts",
        "chalicelib.platform.sns",
    ],
    "record_alert": ["chalicelib.ops.alerts", "chalicelib.ops.dynamo"],
    "analytics_step": [
        "chalicelib.orders.consuming",
        "chalicelib.analytics.service",
        "chalicelib.analytics.dynamo",
        "chalicelib.ops.failures",
    ],
    "product_images": _CATALOG,
    "expire_upload_slots": [
        "chalicelib.images.service",
        "chalicelib.images.dynamo",
        "chalicelib.images.sns",
        "chalicelib.platform.sns",
    ],
    "image_uploaded": [
        "chalicelib.images.service",
        "chalicelib.images.dynamo",
        "chalicelib.platform.s3",
        "chalicelib.images.processing",
        "PIL.Image",
        "exifread",
    ],
    "image_removed": [
        "chalicelib.images.service",
        "chalicelib.images.dynamo",
        "chalicelib.platform.s3",
    ],
    "catalog_import": [
        "chalicelib.catalog.imports",
        "chalicelib.catalog.dynamo",
        "chalicelib.platform.s3",
    ],
}

_REGION = "us-east-1"
_ACCOUNT = "123456789012"
_PREFIX = "eventshop-local"

# Settings for ``chalicelib.platform.settings.Settings`` plus fake credentials. The
# endpoint is an unused port on loopback: nothing listens, nothing is called.
FAKE_ENV: dict[str, str] = {
    "STAGE": "local",
    "AWS_REGION": _REGION,
    "AWS_DEFAULT_REGION": _REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Lambda has no shared config files; do not read the developer's.
    "AWS_CONFIG_FILE": str(ROOT / "bench" / "results" / "no-aws-config"),
    "AWS_SHARED_CREDENTIALS_FILE": str(ROOT / "bench" / "results" / "no-aws-credentials"),
    "JWT_SECRET": "bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    "JWT_LEEWAY_SECONDS": "30",
    "LOG_LEVEL": "INFO",
}


def _resource_env() -> dict[str, str]:
    """A plausible value for every resource setting, derived from the Settings
    fields so that a new resource needs no edit here."""
    from dataclasses import fields

    if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, not the root
        sys.path.insert(0, str(ROOT))
    from chalicelib.platform.settings import Settings

    env: dict[str, str] = {}
    for f in fields(Settings):
        name = f.name
        if name.endswith("_stream_arn"):
            table = name.removesuffix("_stream_arn").replace("_", "-")
            env[name.upper()] = (
                f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/{_PREFIX}-{table}"
                "/stream/2026-01-01T00:00:00.000"
            )
        elif name.endswith("_topic_arn"):
            topic = name.removesuffix("_topic_arn").replace("_", "-")
            env[name.upper()] = f"arn:aws:sns:{_REGION}:{_ACCOUNT}:{_PREFIX}-{topic}"
        elif name.endswith(("_table_name", "_queue_name", "_bucket_name", "_parameter")) or (
            name in ("event_bus_name", "bus_dlq_name")
        ):
            env[name.upper()] = f"{_PREFIX}-{name.rsplit('_', 2)[0].replace('_', '-')}"
    return env


FAKE_ENV.update(_resource_env())

# Children: json and sys are imported before the clock starts in both (botocore
# imports json anyway), so the two measurements differ only in what they time.
# Clients come in as argv; the result goes out as one JSON line on stdout.
_APP_CHILD = """\
import json, sys
import time
cut = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
clients, first_call = sys.argv[1:cut], sys.argv[cut + 1:]
t0 = time.perf_counter()
# The Powertools modules the app loads at init, timed on their own (after
# boto3, which every function loads too, so what they share counts once): the
# app's import then finds them loaded, so the sum is the same init.
import importlib
import boto3
tp = time.perf_counter()
for module in __POWERTOOLS__:
    importlib.import_module(module)
powertools = time.perf_counter() - tp
import app
from chalicelib.platform import aws
for name in clients:
    aws.client(name)
elapsed = time.perf_counter() - t0
heavy = sorted(m for m in __HEAVY__ if m in sys.modules)
t1 = time.perf_counter()
for module in first_call:
    importlib.import_module(module)
first = time.perf_counter() - t1
# Peak resident memory of this interpreter so far (VmHWM; exec reset it, so
# it is this function's, not its parent's): what the function holds before
# it handles anything.
peak_kb = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
print(json.dumps({
    "peak_kb": peak_kb,
    "ms": elapsed * 1000.0, "first_ms": first * 1000.0,
    "powertools_ms": powertools * 1000.0,
    "heavy": heavy,
    "modules": len(sys.modules),
}))
""".replace("__HEAVY__", repr(HEAVY_MODULES)).replace("__POWERTOOLS__", repr(POWERTOOLS_AT_INIT))

_FLOOR_CHILD = """\
import json, sys
import time
t0 = time.perf_counter()
import boto3
from botocore.config import Config
session = boto3.session.Session()
config_kw = json.loads(sys.argv[1])
for name in sys.argv[2:]:
    session.client(name, config=Config(**config_kw))
elapsed = time.perf_counter() - t0
print(json.dumps({"ms": elapsed * 1000.0, "heavy": [], "modules": len(sys.modules)}))
"""

_DISCOVER_CHILD = """\
import json
import app
a = app.app
names = [__API__] if a.routes else []
names += [c.name for c in a.builtin_auth_handlers]
names += [c.name for c in a.event_sources]
names += [f.name for f in a.pure_lambda_functions]
print(json.dumps(names))
""".replace("__API__", repr(API_FUNCTION))


class BenchError(RuntimeError):
    """A child process failed; the message carries its stderr."""


@dataclass(frozen=True)
class Sample:
    ms: float
    heavy: list[str]
    modules: int
    first_ms: float = 0.0
    powertools_ms: float = 0.0
    peak_kb: int = 0


@dataclass
class FunctionResult:
    function: str
    clients: list[str]
    init_ms: float
    floor_ms: float
    ratio: float
    heavy_imported: list[str]
    is_image: bool
    verdict: str
    passed: bool
    init_samples_ms: list[float] = field(default_factory=list)
    floor_samples_ms: list[float] = field(default_factory=list)
    init_modules: int = 0
    floor_modules: int = 0
    first_call_ms: float = 0.0
    cold_ratio: float = 0.0  # (init + first-call imports) / floor
    powertools_ms: float = 0.0  # of init: importing Powertools
    peak_mb: float = 0.0  # resident memory after init and the first call's imports (median)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The benchmark's settings win over whatever the shell exported.
    env.update(FAKE_ENV)
    # PYTHONDONTWRITEBYTECODE (set on some machines) would make every child
    # compile the app's modules from source while boto3's come precompiled
    # from pip: the ratio would measure the compiler. The children write and
    # reuse bytecode, as a deployment package built with it does.
    for key in (
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONINSPECT",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(key, None)
    return env


def _run_child(code: str, args: Sequence[str], env: Mapping[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise BenchError(f"child exited {proc.returncode}:\n{tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise BenchError(f"child printed nothing; stderr:\n{proc.stderr.strip()}")
    # The result is the last line: the app may log to stdout during import.
    return lines[-1]


def _sample(code: str, args: Sequence[str], env: Mapping[str, str]) -> Sample:
    data: dict[str, Any] = json.loads(_run_child(code, args, env))
    return Sample(
        ms=float(data["ms"]),
        heavy=list(data["heavy"]),
        modules=int(data["modules"]),
        first_ms=float(data.get("first_ms", 0.0)),
        powertools_ms=float(data.get("powertools_ms", 0.0)),
        peak_kb=int(data.get("peak_kb", 0)),
    )


def client_config_kwargs() -> dict[str, Any]:
    """The app's botocore Config, so the floor builds the very same clients."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from chalicelib.platform import aws

    return dict(getattr(aws, "_CONFIG_KW", {}))


def discover_functions(env: Mapping[str, str] | None = None) -> list[str]:
    """The Lambda functions the app registers, read from Chalice's registry."""
    names: list[str] = json.loads(
        _run_child(_DISCOVER_CHILD, [], child_env() if env is None else env)
    )
    return names


def clients_for(function: str) -> list[str]:
    return list(FUNCTION_CLIENTS.get(function, DEFAULT_CLIENTS))


def is_image_function(function: str) -> bool:
    return function in IMAGE_FUNCTIONS


def measure_function(
    function: str,
    clients: Sequence[str] | None = None,
    repeat: int = 7,
    env: Mapping[str, str] | None = None,
    config_kwargs: Mapping[str, Any] | None = None,
) -> FunctionResult:
    """Median init and floor of one function over ``repeat`` fresh interpreters."""
    if repeat < 1:
        raise ValueError("repeat must be >= 1")
    names = list(clients_for(function) if clients is None else clients)
    env = child_env() if env is None else env
    config_json = json.dumps(client_config_kwargs() if config_kwargs is None else config_kwargs)
    init: list[Sample] = []
    floor: list[Sample] = []
    for _ in range(repeat):
        # Interleaved, so drift in machine load hits both sides alike.
        init.append(_sample(_APP_CHILD, [*names, "--", *FIRST_CALL.get(function, [])], env))
        floor.append(_sample(_FLOOR_CHILD, [config_json, *names], env))
    init_ms = statistics.median(s.ms for s in init)
    floor_ms = statistics.median(s.ms for s in floor)
    ratio = init_ms / floor_ms if floor_ms > 0 else float("inf")
    first_ms = statistics.median(s.first_ms for s in init)
    heavy = sorted({m for s in init for m in s.heavy})
    image = is_image_function(function)
    verdict, passed = _verdict(ratio, heavy, image)
    return FunctionResult(
        function=function,
        clients=names,
        init_ms=round(init_ms, 1),
        floor_ms=round(floor_ms, 1),
        ratio=round(ratio, 2),
        heavy_imported=heavy,
        is_image=image,
        verdict=verdict,
        passed=passed,
        init_samples_ms=[round(s.ms, 1) for s in init],
        floor_samples_ms=[round(s.ms, 1) for s in floor],
        init_modules=max(s.modules for s in init),
        floor_modules=max(s.modules for s in floor),
        first_call_ms=round(first_ms, 1),
        powertools_ms=round(statistics.median(s.powertools_ms for s in init), 1),
        cold_ratio=round((init_ms + first_ms) / floor_ms, 2) if floor_ms > 0 else float("inf"),
        peak_mb=round(statistics.median(s.peak_kb for s in init) / 1024, 1),
    )


def _verdict(ratio: float, heavy: Sequence[str], image: bool) -> tuple[str, bool]:
    if image:
        # Image handling needs Pillow and exifread; its ratio is reported only.
        return "PASS (image: exempt)", True
    problems = []
    if heavy:
        problems.append(f"imports {'/'.join(heavy)}")
    if ratio > TARGET_RATIO:
        problems.append(f"ratio > {TARGET_RATIO}")
    if problems:
        return "FAIL: " + ", ".join(problems), False
    return "PASS", True


def format_table(results: Sequence[FunctionResult]) -> str:
    headers = [
        "function",
        "clients",
        "init ms (median)",
        "floor ms (median)",
        "ratio",
        "powertools ms (of init)",
        "first-call imports ms",
        "(init+first)/floor",
        "PIL/exifread at init",
        "verdict",
    ]
    rows = [
        [
            r.function,
            ",".join(r.clients) or "-",
            f"{r.init_ms:.1f}",
            f"{r.floor_ms:.1f}",
            f"{r.ratio:.2f}",
            f"{r.powertools_ms:.1f}",
            f"{r.first_call_ms:.1f}",
            f"{r.cold_ratio:.2f}",
            ", ".join(r.heavy_imported) if r.heavy_imported else "no",
            r.verdict,
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def memory_for(function: str, peak_mb: float, working_mb: float = 0.0) -> int:
    """The memory (MB) a function should be configured with (see HEADROOM)."""
    need = math.ceil((peak_mb + working_mb) * HEADROOM / MEMORY_STEP) * MEMORY_STEP
    return max(MEMORY_MIN, FLOORS.get(function, MEMORY_MIN), need)


def image_working_set(path: Path = IMAGES_RESULTS) -> tuple[float, str] | None:
    """(MB, what) processing the images bench's largest photo holds: the
    photo's bytes (the handler downloads them) plus the most any of our
    operations grew the peak RSS by; None without a result."""
    try:
        rows = json.loads(path.read_text()).get("rows") or []
    except (OSError, ValueError):
        return None
    ours = [r for r in rows if str(r.get("op", "")).startswith("ours") and r.get("peak_rss_mb")]
    if not ours:
        return None
    largest = max(float(r["mp"]) for r in ours)
    at = [r for r in ours if float(r["mp"]) == largest]
    worst = max(at, key=lambda r: float(r["peak_rss_mb"]))
    total = float(worst["peak_rss_mb"]) + float(worst.get("file_mb", 0.0))
    return total, f"{largest:g} MP ({worst['file_mb']} MB file, {worst['op']})"


def configured_memory(stage: str = "prod", path: Path = CONFIG_PATH) -> dict[str, int]:
    """Each function's memory on ``stage`` (``*``: the default), as the
    orders bench prices it (``bench.orders.memory_sizes``)."""
    from bench.orders import memory_sizes

    return memory_sizes(json.loads(path.read_text()), stage)


def memory_rows(
    results: Sequence[FunctionResult],
    working: tuple[float, str] | None,
    configured: Mapping[str, int],
) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        extra = working[0] if (r.function in PHOTO_FUNCTIONS and working) else 0.0
        rows.append(
            {
                "function": r.function,
                "peakMb": r.peak_mb,
                "workingMb": round(extra, 1),
                "floorMb": FLOORS.get(r.function, MEMORY_MIN),
                "recommendedMb": memory_for(r.function, r.peak_mb, extra),
                "configuredMb": configured.get(r.function, configured["*"]),
            }
        )
    return rows


def format_memory(rows: Sequence[Mapping[str, Any]], working: tuple[float, str] | None) -> str:
    headers = [
        "function",
        "peak MB (init + first call)",
        "+ working set MB",
        "x1.5, 64 MB steps",
        "floor MB",
        "sized MB",
        "configured MB (prod)",
        "",
    ]
    body = [
        [
            str(row["function"]),
            f"{row['peakMb']:.1f}",
            f"{row['workingMb']:.1f}" if row["workingMb"] else "-",
            str(memory_for("-", row["peakMb"], row["workingMb"])),
            str(row["floorMb"]),
            str(row["recommendedMb"]),
            str(row["configuredMb"]),
            "" if row["recommendedMb"] == row["configuredMb"] else "DIFFERS",
        ]
        for row in rows
    ]
    widths = [max(len(x[i]) for x in [headers, *body]) for i in range(len(headers))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)).rstrip()
        for x in [headers, *body]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    where = (
        f"image_uploaded adds {working[0]:.1f} MB: the photo and the images bench's peak "
        f"at {working[1]}"
        if working
        else "no bench/results/images.json: run bench/images.py --mp 100 for the image functions"
    )
    lines.append(
        f"   sized: (peak + working set) x {HEADROOM:g} in {MEMORY_STEP} MB steps, at least "
        f"{MEMORY_MIN}, and at least the function's floor (for its duration: Lambda's CPU is "
        f"proportional to memory; see FLOORS in bench/coldstart.py); {where}"
    )
    return "\n".join(lines)


def run(repeat: int, warmup: int, output: Path) -> tuple[list[FunctionResult], list[str]]:
    env = child_env()
    notes: list[str] = []
    functions = discover_functions(env)
    if not functions:
        raise BenchError("the app registers no Lambda function")
    for name in functions:
        if name not in FUNCTION_CLIENTS:
            notes.append(
                f"note: {name} is not in FUNCTION_CLIENTS; measured with default clients "
                f"{','.join(DEFAULT_CLIENTS)}"
            )
    for name in sorted(set(FUNCTION_CLIENTS) - set(functions)):
        notes.append(f"note: FUNCTION_CLIENTS lists {name}, which the app does not register")
    config_kwargs = client_config_kwargs()
    # Warm-up runs (not counted) compile .pyc files and fill the page cache,
    # so the first measured sample is not an outlier.
    every_client = sorted({c for f in functions for c in clients_for(f)})
    for _ in range(warmup):
        _sample(_APP_CHILD, every_client, env)
        _sample(_FLOOR_CHILD, [json.dumps(config_kwargs), *every_client], env)
    results = [
        measure_function(name, repeat=repeat, env=env, config_kwargs=config_kwargs)
        for name in functions
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "coldstart",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "repeat": repeat,
        "warmup": warmup,
        "target_ratio": TARGET_RATIO,
        "heavy_modules": list(HEAVY_MODULES),
        "client_config": config_kwargs,
        "all_passed": all(r.passed for r in results),
        "notes": notes,
        "results": [asdict(r) for r in results],
        "memory": memory_rows(results, image_working_set(), configured_memory()),
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    return results, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7, help="fresh processes per side (7)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first (1)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="JSON report path")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    try:
        results, notes = run(args.repeat, max(args.warmup, 0), args.output)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"coldstart: {exc}", file=sys.stderr)
        return 2
    print(
        f"cold start: import app + first clients vs import boto3 + same clients "
        f"(median of {args.repeat} fresh processes, Python {sys.version.split()[0]})"
    )
    print(format_table(results))
    for note in notes:
        print(note)
    failed = [r.function for r in results if not r.passed]
    print(
        f"target: ratio <= {TARGET_RATIO} and no {'/'.join(HEAVY_MODULES)} outside image "
        f"handling; {'missed by ' + ', '.join(failed) if failed else 'met'}"
    )
    working = image_working_set()
    rows = memory_rows(results, working, configured_memory())
    print()
    print("memory per function (prod's sizes against the measured ones):")
    print(format_memory(rows, working))
    resize = [str(r["function"]) for r in rows if r["recommendedMb"] != r["configuredMb"]]
    if resize:
        print(f"memory: .chalice/config.json differs from the sizing for {', '.join(resize)}")
    print(f"wrote {args.output}")
    return 1 if args.check and (failed or resize) else 0


if __name__ == "__main__":
    sys.exit(main())
