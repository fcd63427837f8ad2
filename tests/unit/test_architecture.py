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
    assert roots <= {"__future__", "logging", "chalice", "chalicelib"}, roots


def test_app_py_only_assembles() -> None:
    """app.py creates the app, sets logging and registers blueprints: no
    route, no handler, no function of its own."""
    tree = ast.parse((ROOT / "app.py").read_text())
    defined = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert defined == []


def test_only_app_py_imports_blueprints() -> None:
    blueprints = {"chalicelib.http.api"} | {
        f"chalicelib.{p.parent.name}.api" for p in (ROOT / "chalicelib").glob("*/api.py")
    }
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        found = imported_modules(path) & blueprints
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"
    assert imported_modules(ROOT / "app.py") >= blueprints


# What a cold start may load of chalicelib: the blueprints and what declaring
# their routes and handlers needs. Models, services and adapters load on first
# use, inside a handler.
CONTEXTS = ("catalog", "orders", "checkout", "images", "ops", "analytics")
COLD_START_MODULES = {
    "chalicelib",
    "chalicelib.bootstrap",
    "chalicelib.platform",
    "chalicelib.platform.settings",
    "chalicelib.platform.errors",
    "chalicelib.platform.logs",
    "chalicelib.platform.correlation",
    "chalicelib.identity",
    "chalicelib.identity.auth",
    "chalicelib.http",
    "chalicelib.http.api",
    "chalicelib.http.authorizer",
    "chalicelib.http.cursor",
    "chalicelib.http.openapi",
    "chalicelib.http.request",
    "chalicelib.http.routing",
    "chalicelib.console",
    "chalicelib.console.api",
    *(
        f"chalicelib.{c}"
        for c in ("catalog", "orders", "checkout", "images", "ops", "analytics", "payments")
    ),
    *(
        f"chalicelib.{c}.api"
        for c in ("catalog", "orders", "checkout", "images", "ops", "analytics", "payments")
    ),
}


def test_importing_the_app_loads_no_image_library() -> None:
    """Cold start: image libraries are imported only where images are
    processed; every other function must not pay for them, even indirectly."""
    env_setup = (
        "import os, dataclasses\n"
        "from chalicelib.platform.settings import Settings\n"
        "for f in dataclasses.fields(Settings):\n"
        "    if f.type == 'str':\n"
        "        os.environ.setdefault(f.name.upper(), 'arn:aws:x:us-east-1:1:y/z/stream/1')\n"
        "os.environ['AWS_REGION'] = 'us-east-1'\n"
        "os.environ['JWT_LEEWAY_SECONDS'] = '30'\n"
        "os.environ['STAGE'] = 'test'\n"
        "import sys, app\n"
        "lazy = ('PIL', 'exifread', 'pydantic', 'jwt', 'boto3', 'stripe')\n"
        "heavy = sorted(m for m in lazy if m in sys.modules)\n"
        "print(','.join(heavy))\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('chalicelib'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", env_setup], cwd=ROOT, capture_output=True, text=True, check=True
    )
    heavy, loaded = out.stdout.splitlines()
    assert heavy == "", heavy
    assert set(loaded.split(",")) <= COLD_START_MODULES, set(loaded.split(",")) - COLD_START_MODULES


# --- the tests' own layout ---------------------------------------------------------------

TESTS = ROOT / "tests"


def _test_imports(path: Path, source: str | None = None) -> set[str]:
    """The ``tests...`` modules a file under tests/ imports, relative imports
    resolved and ``from tests.x import y`` counted as ``tests.x.y`` when y is
    a module there."""
    package = list(path.relative_to(ROOT).parts[:-1])  # a module's, or an __init__'s
    found: set[str] = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "tests")
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module.split(".")[0] != "tests":
                continue
            found.add(module)
            for alias in node.names:
                candidate = ROOT.joinpath(*module.split("."), alias.name)
                if candidate.with_suffix(".py").is_file() or candidate.is_dir():
                    found.add(f"{module}.{alias.name}")
    return found


def _foreign(modules: set[str]) -> set[str]:
    """What a test may not import: anything of tests/ outside tests.support."""
    return {
        m
        for m in modules
        if m not in {"tests", "tests.support"} and not m.startswith("tests.support.")
    }


def test_tests_import_helpers_from_tests_support_only() -> None:
    """No test module or conftest imports another test module or a conftest
    (nor does a support module): what tests share lives in tests/support."""
    files = [p for p in sorted(TESTS.rglob("*.py")) if "fixture_app" not in p.parts]
    assert len([p for p in files if p.name.startswith("test_")]) > 30
    offenders = {
        str(p.relative_to(ROOT)): sorted(_foreign(_test_imports(p)))
        for p in files
        if _foreign(_test_imports(p))
    }
    assert offenders == {}


def test_the_import_rule_sees_every_form() -> None:
    path = TESTS / "unit" / "orders" / "test_anything.py"
    cases = {
        "from tests.functional.conftest import Shop": {"tests.functional.conftest"},
        "from tests.unit import test_policies": {"tests.unit", "tests.unit.test_policies"},
        "import tests.e2e.conftest": {"tests.e2e.conftest"},
        "from .test_model import x": {"tests.unit.orders.test_model"},
        "from . import test_model": {"tests.unit.orders", "tests.unit.orders.test_model"},
        "from ..conftest import shop": {"tests.unit.conftest"},
        "from tests.support.fakes import FakeOrderRepository": set(),
        "from tests.support import images as fx": set(),
        "from chalicelib.orders import model": set(),
    }
    for source, foreign in cases.items():
        assert _foreign(_test_imports(path, source)) == foreign, source
