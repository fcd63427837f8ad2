"""Image processing cost: our thumbnails against pyvips and against the decode floor.

On generated textured photos (``tests.unit.image_fixtures``, JPEG quality 90, with
EXIF) of 12, 24 and 50 MP, measured in the same run, interleaved (one repeat of
every operation, then the next repeat), median of ``--repeat``:

- ``ours 200``: ``processing.process(data, sizes=(200,))`` (validation, EXIF and
  the JPEG encode included);
- ``ours 3 sizes``: ``processing.process(data)``: 1024, 512 and 200 from one
  reduced decode, as a cascade;
- ``pyvips 200`` / ``pyvips 3 sizes``: ``pyvips.Image.thumbnail_buffer`` (shrink-on-
  load, auto-rotate) + ``jpegsave_buffer(Q=85)``, once per size; operation cache off;
- ``floor``: the 1/8-scale decode alone (``draft`` to 1/8 + ``load``): what no
  JPEG thumbnailer built on libjpeg can beat;
- ``exif``: ``exifread.process_file`` on the first 64 KB, ``details=False``.

Peak RSS: each operation once in a FRESH subprocess; ``ru_maxrss`` after the
operation minus ``ru_maxrss`` before it, in that process that had only imported
the libraries (PIL, exifread, pyvips, processing) and read the file.

Ratios: ours 3 sizes / pyvips 3 sizes (geometric mean over the photo sizes) and
ours 200 / floor. Targets: cascade <= 1.0x pyvips, 200 px <= 1.15x floor, peak
RSS < 40 MB at 24 MP. Wall and CPU (process) times are both kept: on a busy
machine the CPU times are the steadier comparison.

    .venv/bin/python bench/images.py [--repeat 5] [--mp 12,24,50] [--no-rss]

Prints the table and writes ``bench/results/images.json``. Exit code 0.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/images.py
    sys.path.insert(0, str(ROOT))

RESULTS_PATH = ROOT / "bench" / "results" / "images.json"
SIZES = (1024, 512, 200)
QUALITY = 85
DEFAULT_MP = (12.0, 24.0, 50.0)

OPS = ("ours_200", "ours_3", "vips_200", "vips_3", "floor", "exif")
LABELS = {
    "ours_200": "ours 200",
    "ours_3": "ours 3 sizes",
    "vips_200": "pyvips 200",
    "vips_3": "pyvips 3 sizes",
    "floor": "floor 1/8 decode",
    "exif": "exif 64 KB",
}
TARGET_CASCADE_VS_VIPS = 1.0
TARGET_200_VS_FLOOR = 1.15
TARGET_RSS_MB = 40.0
TARGET_RSS_AT_MP = 24.0


# --- pure helpers (tests/unit/test_bench_images.py) -------------------------------------
def geometric_mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values")
    if any(v <= 0 for v in values):
        raise ValueError(f"geometric mean of non-positive values: {values!r}")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values")
    return float(statistics.median(values))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned, floats to 1 decimal
    (2 below 10), None as "-"."""

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    def numeric(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    text = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for raw, row in zip(rows, text, strict=True):
        parts = [
            value.rjust(widths[i]) if numeric(raw[i]) or raw[i] is None else value.ljust(widths[i])
            for i, value in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "OK" if value <= target else "MISSED"


def summarize(
    timings: Mapping[float, Mapping[str, float | None]],
    rss_mb: Mapping[float, Mapping[str, float | None]] | None = None,
) -> dict[str, Any]:
    """Ratios and target verdicts from {megapixels: {op: ms}} (and {mp: {op: MB}})."""
    per_mp: dict[str, dict[str, float | None]] = {}
    cascade_ratios: list[float] = []
    for mp, ops in sorted(timings.items()):
        ours3, vips3 = ops.get("ours_3"), ops.get("vips_3")
        ours200, floor = ops.get("ours_200"), ops.get("floor")
        cascade = ours3 / vips3 if ours3 and vips3 else None
        small = ours200 / floor if ours200 and floor else None
        per_mp[f"{mp:g}"] = {"cascade_vs_pyvips": cascade, "200_vs_floor": small}
        if cascade is not None:
            cascade_ratios.append(cascade)
    cascade_gm = geometric_mean(cascade_ratios) if cascade_ratios else None
    worst_small = max(
        (r["200_vs_floor"] for r in per_mp.values() if r["200_vs_floor"] is not None),
        default=None,
    )
    rss_at = None
    if rss_mb is not None and TARGET_RSS_AT_MP in rss_mb:
        values = [v for k, v in rss_mb[TARGET_RSS_AT_MP].items() if k.startswith("ours") and v]
        rss_at = max(values) if values else None
    return {
        "per_mp": per_mp,
        "cascade_vs_pyvips_geomean": cascade_gm,
        "200_vs_floor_worst": worst_small,
        "ours_peak_rss_mb_at_24mp": rss_at,
        "targets": {
            f"cascade <= {TARGET_CASCADE_VS_VIPS}x pyvips (geomean)": verdict(
                cascade_gm, TARGET_CASCADE_VS_VIPS
            ),
            f"200 px <= {TARGET_200_VS_FLOOR}x floor (every size)": verdict(
                worst_small, TARGET_200_VS_FLOOR
            ),
            f"peak RSS < {TARGET_RSS_MB:g} MB at {TARGET_RSS_AT_MP:g} MP": (
                "n/a" if rss_at is None else "OK" if rss_at < TARGET_RSS_MB else "MISSED"
            ),
        },
    }


# --- the operations ------------------------------------------------------------------------
def _pyvips() -> Any:
    try:
        import pyvips  # type: ignore[import-untyped, unused-ignore]
    except (ImportError, OSError):
        return None
    pyvips.cache_set_max(0)  # otherwise repeats are served from libvips' operation cache
    return pyvips


def operations(data: bytes) -> dict[str, Callable[[], object]]:
    import exifread
    from PIL import Image

    from chalicelib.images import processing

    def floor() -> object:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            img.load()
            return img.size

    def exif() -> object:
        return exifread.process_file(
            io.BytesIO(data[: processing.EXIF_READ_LIMIT]), details=False, extract_thumbnail=False
        )

    ops: dict[str, Callable[[], object]] = {
        "ours_200": lambda: processing.process(data, sizes=(200,), quality=QUALITY),
        "ours_3": lambda: processing.process(data, sizes=SIZES, quality=QUALITY),
        "floor": floor,
        "exif": exif,
    }
    vips = _pyvips()
    if vips is not None:

        def thumb(size: int) -> bytes:
            image = vips.Image.thumbnail_buffer(data, size, height=size)
            out: bytes = image.jpegsave_buffer(Q=QUALITY, keep=vips.enums.ForeignKeep.NONE)
            return out

        ops["vips_200"] = lambda: thumb(200)
        ops["vips_3"] = lambda: [thumb(size) for size in SIZES]
    return ops


def time_ops(ops: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU ms of each op; one warm-up each, then interleaved repeats."""
    for fn in ops.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in ops}
    cpu: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(repeat):
        for name, fn in ops.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append((time.perf_counter() - w0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
    return {name: {"wall_ms": median(wall[name]), "cpu_ms": median(cpu[name])} for name in ops}


def _vm_hwm_kb() -> int | None:
    """This process's own peak RSS (VmHWM), a cross-check of ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _child(op: str, path: str) -> None:
    """In a fresh process: import everything, read the file, then run ``op`` once."""
    import exifread  # noqa: F401 - the baseline includes every library
    from PIL import Image  # noqa: F401

    from chalicelib.images import processing  # noqa: F401

    _pyvips()
    data = Path(path).read_bytes()
    ops = operations(data)
    before, hwm_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _vm_hwm_kb()
    ops[op]()
    after, hwm_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _vm_hwm_kb()
    sample = {"before_kb": before, "after_kb": after, "hwm_before_kb": hwm_before}
    print(json.dumps(sample | {"hwm_after_kb": hwm_after}))


# ru_maxrss survives execve: a child spawned straight from this (large) process would
# start with our high-water mark. A small launcher process in between resets it.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def rss_delta_mb(sample: Mapping[str, int | None]) -> float:
    """Peak RSS growth of the operation, MiB (Linux reports ru_maxrss in KiB)."""
    before, after = sample["before_kb"], sample["after_kb"]
    assert before is not None and after is not None
    return max(0, after - before) / 1024


def peak_rss_mb(op: str, path: Path) -> tuple[float | None, float | None]:
    """(ru_maxrss delta, VmHWM delta) of ``op`` run once in a fresh process, MiB."""
    script = str(Path(__file__).resolve())
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _LAUNCHER,
            sys.executable,
            script,
            "--child",
            op,
            "--file",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        print(f"  rss child {op} failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None, None
    sample = json.loads(proc.stdout.strip().splitlines()[-1])
    hwm = None
    if sample.get("hwm_before_kb") is not None and sample.get("hwm_after_kb") is not None:
        hwm = rss_delta_mb(
            {"before_kb": sample["hwm_before_kb"], "after_kb": sample["hwm_after_kb"]}
        )
    return rss_delta_mb(sample), hwm


# --- the run ---------------------------------------------------------------------------------
def make_photo(megapixels: float) -> tuple[bytes, tuple[int, int]]:
    from tests.support.images import photo_dimensions, photo_jpeg

    width, height = photo_dimensions(megapixels)
    data = photo_jpeg(
        width,
        height,
        orientation=1,
        make="BenchCam",
        model="B-1",
        taken_at="2024:05:01 12:34:56",
        gps=(52.52, 13.405),
        quality=90,
        seed=int(megapixels),
    )
    return data, (width, height)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def environment() -> dict[str, Any]:
    import PIL

    vips = _pyvips()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "pillow": PIL.__version__,
        "libjpeg_turbo": _feature_version("libjpeg_turbo"),
        "pyvips": None if vips is None else vips.__version__,
        "libvips": None if vips is None else ".".join(str(vips.version(i)) for i in range(3)),
        "vips_concurrency": None if vips is None else vips.concurrency_get(),
    }


def _feature_version(name: str) -> str | None:
    from PIL import features

    try:
        return features.version(name)
    except ValueError:
        return None


def run(megapixels: Sequence[float], repeat: int, rss: bool) -> dict[str, Any]:
    env = environment()
    if env["pyvips"] is None:
        print("pyvips unavailable: comparing to the floor only")
    rows: list[dict[str, Any]] = []
    timings: dict[float, dict[str, float | None]] = {}
    cpu_timings: dict[float, dict[str, float | None]] = {}
    rss_mb: dict[float, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        for mp in megapixels:
            data, (width, height) = make_photo(mp)
            path = Path(tmp) / f"photo-{mp:g}mp.jpg"
            path.write_bytes(data)
            print(f"{mp:g} MP: {width}x{height}, {len(data) / 1e6:.1f} MB ...", flush=True)
            measured = time_ops(operations(data), repeat)
            timings[mp] = {op: m["wall_ms"] for op, m in measured.items()}
            cpu_timings[mp] = {op: m["cpu_ms"] for op, m in measured.items()}
            rss_pairs = {op: peak_rss_mb(op, path) if rss else (None, None) for op in measured}
            rss_mb[mp] = {op: pair[0] for op, pair in rss_pairs.items()}
            for op in OPS:
                if op in measured:
                    rows.append(
                        {
                            "mp": mp,
                            "dimensions": f"{width}x{height}",
                            "file_mb": round(len(data) / 1e6, 2),
                            "op": op,
                            "wall_ms": round(measured[op]["wall_ms"], 2),
                            "cpu_ms": round(measured[op]["cpu_ms"], 2),
                            "peak_rss_mb": _round(rss_pairs[op][0]),
                            "peak_rss_mb_vmhwm": _round(rss_pairs[op][1]),
                        }
                    )
    return {
        "environment": env,
        "params": {"repeat": repeat, "megapixels": list(megapixels), "sizes": list(SIZES)},
        "rows": rows,
        "summary_wall": summarize(timings, rss_mb if rss else None),
        "summary_cpu": summarize(cpu_timings, rss_mb if rss else None),
    }


def report(result: Mapping[str, Any]) -> str:
    env = result["environment"]
    table = format_table(
        ["MP", "file MB", "operation", "wall ms", "cpu ms", "peak RSS MB"],
        [
            [
                f"{r['mp']:g}",
                r["file_mb"],
                LABELS[r["op"]],
                r["wall_ms"],
                r["cpu_ms"],
                r["peak_rss_mb"],
            ]
            for r in result["rows"]
        ],
    )
    wall, cpu = result["summary_wall"], result["summary_cpu"]
    ratios = format_table(
        ["MP", "3 sizes / pyvips (wall)", "(cpu)", "200 / floor (wall)", "(cpu)"],
        [
            [
                mp,
                wall["per_mp"][mp]["cascade_vs_pyvips"],
                cpu["per_mp"][mp]["cascade_vs_pyvips"],
                wall["per_mp"][mp]["200_vs_floor"],
                cpu["per_mp"][mp]["200_vs_floor"],
            ]
            for mp in wall["per_mp"]
        ],
    )

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"Pillow {env['pillow']} (libjpeg-turbo {env['libjpeg_turbo']}), "
        f"pyvips {env['pyvips']} (libvips {env['libvips']}, concurrency "
        f"{env['vips_concurrency']}), {env['cpus']} CPUs, load {env['loadavg_1m']:.1f}, "
        f"median of {result['params']['repeat']}",
        table,
        "",
        ratios,
        f"geomean 3 sizes / pyvips: {fmt(wall['cascade_vs_pyvips_geomean'])}x wall, "
        f"{fmt(cpu['cascade_vs_pyvips_geomean'])}x cpu; "
        f"worst 200 / floor: {fmt(wall['200_vs_floor_worst'])}x wall, "
        f"{fmt(cpu['200_vs_floor_worst'])}x cpu",
        "targets (wall): " + "; ".join(f"{name}: {ok}" for name, ok in wall["targets"].items()),
        "targets (cpu):  " + "; ".join(f"{name}: {ok}" for name, ok in cpu["targets"].items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mp", default=",".join(f"{m:g}" for m in DEFAULT_MP))
    parser.add_argument("--no-rss", action="store_true", help="skip the subprocess RSS runs")
    parser.add_argument("--json", type=Path, default=RESULTS_PATH)
    parser.add_argument("--child", choices=OPS, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.file)
        return 0
    megapixels = [float(m) for m in args.mp.split(",") if m.strip()]
    result = run(megapixels, max(1, args.repeat), rss=not args.no_rss)
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
