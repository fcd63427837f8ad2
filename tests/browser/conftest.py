"""The browser tier: the operator console (``GET /console``) in Debian's
headless Chromium, driven by Playwright for Python, against one running local
stack for the whole tier.

Playwright's own browser download cannot run on these machines; ``make test``
installs Debian's ``chromium`` when it is missing (as root), and without it
these tests fail (never skip) saying what to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.testing import RunningStack, running_stack
from tests.support.browser import CHROMIUM, Console, jwt, new_tab
from tests.support.e2e_shop import Shop


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def shop(stack: RunningStack) -> Shop:
    return Shop(stack)


@pytest.fixture(scope="session")
def admin_token() -> str:
    return jwt("admin", "console-ops")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(as root: apt-get update && apt-get install -y chromium; `make test` does it "
            "when run as root). Playwright's own `playwright install` cannot run here."
        )
    from playwright.sync_api import expect, sync_playwright

    # On-screen changes that wait for the stack (a saga, a thumbnail) get 20 s.
    expect.set_options(timeout=20_000)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def console(browser: Any, stack: RunningStack, admin_token: str) -> Iterator[Console]:
    """A fresh tab (its own sessionStorage), 1280 px wide, signed in."""
    tab = new_tab(browser, stack.api_url, 1280)
    tab.open()
    tab.sign_in(admin_token)
    from playwright.sync_api import expect

    expect(tab.page.get_by_role("heading", name="Overview")).to_be_visible()
    yield tab
    tab.page.context.close()
