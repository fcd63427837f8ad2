"""Rules import-linter cannot check, because app.py is a module, not a package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_app_py_talks_to_aws_only_through_chalicelib() -> None:
    roots = {m.split(".")[0] for m in imported_modules(ROOT / "app.py")}
    assert not roots & {"boto3", "botocore", "devstack", "moto", "PIL", "exifread"}
    assert roots <= {
        "__future__",
        "functools",
        "hashlib",
        "logging",
        "collections",
        "typing",
        "chalice",
        "chalicelib",
    }, roots


def test_importing_the_app_loads_no_image_library() -> None:
    """Cold start: image libraries are imported only where images are
    processed; every other function must not pay for them, even indirectly."""
    env_setup = (
        "import os, dataclasses\n"
        "from chalicelib.settings import Settings\n"
        "for f in dataclasses.fields(Settings):\n"
        "    if f.type == 'str':\n"
        "        os.environ.setdefault(f.name.upper(), 'arn:aws:x:us-east-1:1:y/z/stream/1')\n"
        "os.environ['AWS_REGION'] = 'us-east-1'\n"
        "os.environ['JWT_LEEWAY_SECONDS'] = '30'\n"
        "os.environ['STAGE'] = 'test'\n"
        "import sys, app\n"
        "heavy = sorted(m for m in ('PIL', 'exifread') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", env_setup], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", out.stdout
