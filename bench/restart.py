"""The state folder: how fast a stack comes back, and that nothing acknowledged is lost.

One run, one state folder (a temporary one; never the checkout's .devstack):

1. **fresh start** (the reference): ``python -m devstack run --state-dir``
   on an empty folder, from the spawn to its ready line;
2. the state is filled through the API: ``--orders`` one-line orders by
   ``--clients`` clients and ``--images`` photos (presigned POST, the image
   pipeline makes their thumbnails), then drain;
3. **clean restart**: SIGTERM (the emulator's last snapshot), then a start on
   the same folder: spawn -> ready, and the emulator's own restore time;
4. **kill -9 mid-burst**: a burst of ``--burst`` orders; once half of them
   have their 201 the whole process tree gets SIGKILL (no snapshot: the
   write-ahead log's tail is replayed); restart (spawn -> ready), drain, and
   every order that got its 201 must be terminal, and ``replay-orders`` must
   find every order consistent.

Targets (issue 15): restart with 1,000 orders and 100 images ready in <= 5 s;
after the kill every acknowledged order terminal and consistent.

    .venv/bin/python bench/restart.py [--orders 1000] [--images 100] [--burst 200] [--clients 8]

Prints a table and writes ``bench/results/restart.json``. Exit code 0.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

RESULTS_PATH = ROOT / "bench" / "results" / "restart.json"
TARGET_READY_S = 5.0
RESTORED = re.compile(r"emulator state restored: .*replayed=(\d+) diverged=(\d+) in ([\d.]+)s")


@dataclass
class Row:
    scenario: str
    orders_in_state: int
    images_in_state: int
    ready_s: float
    restore_s: float  # the emulator's snapshot load and log replay
    replayed: int  # log records replayed
    drain_s: float
    acknowledged: int
    terminal: int
    replay_differ: int


def restored(log: str) -> tuple[int, float]:
    m = RESTORED.search(log)
    return (int(m.group(1)), float(m.group(3))) if m else (0, 0.0)


def photo(seed: int) -> bytes:
    from tests.support.images import photo_jpeg

    return bytes(photo_jpeg(800, 600, seed=seed))


def upload(shop: Any, sku: str, data: bytes) -> None:
    r = shop.http.post(f"{shop.api}/products/{sku}/images", headers=shop.admin, timeout=30)
    r.raise_for_status()
    slot = r.json()["upload"]
    form = {**slot["fields"], "Content-Type": "image/jpeg"}
    requests.post(
        slot["url"], data=form, files={"file": ("p.jpg", data, "image/jpeg")}, timeout=60
    ).raise_for_status()


def replay_differ(emulator_url: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "replay-orders", "--endpoint", emulator_url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    m = re.search(r"(\d+) differ", done.stdout)
    return int(m.group(1)) if m else -1


def main(argv: list[str] | None = None) -> int:
    from bench.images import format_table
    from devstack.eventsources import MAX_BATCHING_WINDOW_ENV
    from devstack.testing import running_stack
    from tests.support.e2e_shop import TERMINAL, Shop
    from tests.support.processes import kill_tree

    keep_windows = {MAX_BATCHING_WINDOW_ENV: ""}  # Lambda's batching windows, as make run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="devstack-restart-") as tmp:
        state = ("--state-dir", str(Path(tmp) / "state"))

        started = time.perf_counter()
        with running_stack(extra_args=state, env=keep_windows, startup_timeout=300) as stack:
            fresh = time.perf_counter() - started
            rows.append(Row("fresh start (empty)", 0, 0, round(fresh, 2), 0, 0, 0, 0, 0, 0))
            shop = Shop(stack)
            skus = [shop.product(stock=100_000, price=700) for _ in range(10)]
            with ThreadPoolExecutor(args.clients) as pool:
                list(
                    pool.map(
                        lambda n: shop.place(f"fill-{n % 50}", [(skus[n % 10], 1)]),
                        range(args.orders),
                    )
                )
                list(pool.map(lambda n: upload(shop, skus[n % 10], photo(n)), range(args.images)))
            stack.drain(timeout=3600)

        started = time.perf_counter()
        with running_stack(extra_args=state, env=keep_windows, startup_timeout=300) as stack:
            ready = time.perf_counter() - started
            replayed, restore = restored(stack.log_text())
            t = time.perf_counter()
            stack.drain(timeout=600)
            rows.append(
                Row(
                    "clean restart",
                    args.orders,
                    args.images,
                    round(ready, 2),
                    restore,
                    replayed,
                    round(time.perf_counter() - t, 2),
                    0,
                    0,
                    0,
                )
            )
            shop = Shop(stack)
            acknowledged: list[str] = []
            lock = threading.Lock()
            killed = threading.Event()

            def place(n: int) -> None:
                if killed.is_set():
                    return
                try:
                    order = shop.place(f"burst-{n % args.clients}", [(skus[n % 10], 1)])
                except (AssertionError, requests.RequestException):
                    return  # the stack died under it: never acknowledged
                with lock:
                    acknowledged.append(order["orderId"])
                    if len(acknowledged) >= args.burst // 2 and not killed.is_set():
                        killed.set()
                        kill_tree(stack.proc.pid)

            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(place, range(args.burst)))

        started = time.perf_counter()
        with running_stack(extra_args=state, env=keep_windows, startup_timeout=300) as stack:
            ready = time.perf_counter() - started
            replayed, restore = restored(stack.log_text())
            t = time.perf_counter()
            stack.drain(timeout=1800)
            drained = time.perf_counter() - t
            shop = Shop(stack)
            statuses = [o["status"] for o in shop.orders(acknowledged)]
            rows.append(
                Row(
                    "restart after kill -9 mid-burst",
                    args.orders + args.burst,
                    args.images,
                    round(ready, 2),
                    restore,
                    replayed,
                    round(drained, 2),
                    len(acknowledged),
                    sum(1 for s in statuses if s in TERMINAL),
                    replay_differ(stack.emulator_url),
                )
            )

    headers = [
        "scenario",
        "orders",
        "images",
        "ready s",
        "x fresh",
        "restore s",
        "replayed",
        "drain s",
        "acked",
        "terminal",
        "differ",
    ]
    ref = rows[0].ready_s
    body = [
        [
            r.scenario,
            r.orders_in_state,
            r.images_in_state,
            r.ready_s,
            r.ready_s / ref,
            r.restore_s,
            r.replayed,
            r.drain_s,
            r.acknowledged,
            r.terminal,
            r.replay_differ,
        ]
        for r in rows
    ]
    print(
        f"devstack restart: {args.orders} orders and {args.images} photos in the state, "
        f"then a burst of {args.burst} killed (SIGKILL, the whole tree) at half"
    )
    print(format_table(headers, body))
    clean, crash = rows[1], rows[2]
    verdicts = {
        f"restart ready <= {TARGET_READY_S:g} s": clean.ready_s <= TARGET_READY_S
        and crash.ready_s <= TARGET_READY_S,
        "every acknowledged order terminal": crash.terminal == crash.acknowledged,
        "replay-orders: 0 differ": crash.replay_differ == 0,
    }
    print("targets: " + "; ".join(f"{k}: {'OK' if v else 'MISSED'}" for k, v in verdicts.items()))
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "benchmark": "restart",
                "params": vars(args),
                "rows": [asdict(r) for r in rows],
                "targets": verdicts,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
