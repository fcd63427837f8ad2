"""The operator console in a browser tab, for the browser tier (tests/browser)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# Screenshots for people to look at (ignored by git).
SHOTS = ROOT / ".artifacts" / "console"
WIDTHS = (1280, 390)


def jwt(role: str, sub: str, ttl: int = 3600) -> str:
    """What ``make token`` prints for the local stage (in-process: no subprocess)."""
    from tools.issue_token import issue

    token = issue(role, sub, "local", ttl, ROOT)
    assert token is not None
    return token


@dataclass
class Console:
    """One browser tab on the console, signed in or not, with what its
    browser console printed."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.url}#/{route}" if route else self.url)

    def sign_in(self, jwt: str) -> None:
        """Through the token prompt, as a person does (keyboard: Enter submits)."""
        self.page.get_by_label("Admin token", exact=True).fill(jwt)
        self.page.get_by_label("Admin token", exact=True).press("Enter")

    def settled(self) -> None:
        """Every part of the page has loaded (no loading placeholder left)."""
        from playwright.sync_api import expect

        expect(self.page.locator("main .loading")).to_have_count(0)


def new_tab(browser: Any, api_url: str, width: int) -> Console:
    """A tab of its own context (its own sessionStorage), ``width`` px wide."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    tab = Console(page, f"{api_url}/console")

    def on_console(message: Any) -> None:
        if message.type == "error":
            tab.errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    return tab
