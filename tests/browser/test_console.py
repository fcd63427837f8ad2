"""The operator console in a real browser against the running stack: the token
prompt, every page, the flows an operator runs (an order moving on screen, a
stuck payment redriven from its DLQ, a photo uploaded, a CSV imported), what
must never happen (HTML from the API run as HTML, console errors, inline
script), and a screenshot of every page at 1280 and 390 px."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from devstack.testing import RunningStack
from tests.support.browser import SHOTS, WIDTHS, Console, jwt, new_tab
from tests.support.e2e_shop import Shop
from tests.support.images import photo_jpeg

STATIC = Path(__file__).resolve().parents[2] / "chalicelib" / "console" / "static"
XSS = "<img src=x onerror=alert(1)>"
PAYMENTS_DLQ = "eventshop-local-payments-dlq"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def stuck(shop: Shop) -> dict[str, Any]:
    """An order whose payment provider never answers: it stays RESERVED (not
    terminal) and its payment message ends in the payments DLQ."""
    sku = shop.product(stock=50, price=700)
    return shop.place("stuck-customer", [(sku, 1)], token="tok_unavailable")


@pytest.fixture(scope="module")
def low(shop: Shop) -> str:
    """A product below its low-stock threshold, and one whose name is HTML."""
    sku = shop.product(stock=1, threshold=5, sku=f"LOW-{uuid.uuid4().hex[:8]}")
    r = shop.http.put(
        f"{shop.api}/products/XSS-1",
        headers=shop.admin,
        json={"name": XSS, "priceCents": 100, "stock": 3, "lowStockThreshold": 0},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return sku


def row(console: Console, key: str) -> Any:
    return console.page.locator(f'tr[data-key="{key}"]')


# --- the page itself ------------------------------------------------------------------


def test_the_page_and_its_files_are_served_with_a_strict_policy(stack: RunningStack) -> None:
    page = requests.get(f"{stack.api_url}/console", timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    # Thumbnails and uploads: the stack's S3 (the emulator), nothing else.
    assert directives["img-src"] == f"'self' {stack.emulator_url}"
    assert directives["connect-src"] == f"'self' {stack.emulator_url}"
    assert "unsafe" not in policy and "*" not in policy
    # No inline script or style in the page, and none made by the modules.
    assert re.findall(r"<script\b[^>]*>", page.text) == [
        '<script type="module" src="console/main.js">'
    ]
    assert "<style" not in page.text and "style=" not in page.text
    files = sorted(p.name for p in STATIC.iterdir() if p.name != "index.html")
    assert {"main.js", "api.js", "dom.js", "console.css"} <= set(files)
    for name in files:
        asset = requests.get(f"{stack.api_url}/console/{name}", timeout=30)
        assert asset.status_code == 200, name
        assert asset.headers["Content-Security-Policy"] == policy
        assert asset.text == (STATIC / name).read_text()
        if name.endswith(".js"):
            assert asset.headers["Content-Type"].startswith("text/javascript")
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|eval\(", asset.text), name
    for unknown in ("nope.js", "index.html", "..", "main.py", "MAIN.JS"):
        missing = requests.get(f"{stack.api_url}/console/{unknown}", timeout=30)
        assert missing.status_code in (403, 404), (unknown, missing.status_code)
        if unknown != "..":
            assert missing.status_code == 404 and missing.json()["Code"] == "NotFoundError"


def test_the_token_prompt_then_the_overview(
    browser: Any, stack: RunningStack, admin_token: str, low: str
) -> None:
    tab = new_tab(browser, stack.api_url, 1280)
    tab.open()
    prompt = tab.page.get_by_role("heading", name="Sign in with an admin token")
    expect(prompt).to_be_visible()
    expect(tab.page.get_by_role("navigation", name="Pages")).to_be_hidden()

    tab.sign_in("not a token")
    expect(tab.page.get_by_role("alert")).to_contain_text("not a JWT")
    tab.sign_in(jwt("customer", "alice"))
    expect(tab.page.get_by_role("alert")).to_contain_text("needs an admin")

    tab.sign_in(admin_token)
    expect(tab.page.get_by_role("heading", name="Overview")).to_be_visible()
    catalog = tab.page.locator("section", has=tab.page.get_by_role("heading", name="Catalog"))
    expect(catalog.locator(".catalog-count")).to_contain_text("products")
    expect(catalog.locator(f'tr[data-key="{low}"]')).to_be_visible()
    dlqs = tab.page.locator("section", has=tab.page.get_by_role("heading", name="Dead letters"))
    expect(dlqs.locator(f'tr[data-key="{PAYMENTS_DLQ}"]')).to_be_visible()
    expect(tab.page.locator("#who-text")).to_contain_text("console-ops (admin)")
    # The token is in this tab's sessionStorage, nowhere else.
    stored = tab.page.evaluate(
        "() => [sessionStorage.length, localStorage.length, document.cookie]"
    )
    assert stored == [1, 0, ""]
    assert tab.page.evaluate("() => Object.values(sessionStorage)") == [admin_token]

    # Keyboard: the navigation is links, reached and followed from the keyboard.
    nav = tab.page.get_by_role("navigation", name="Pages")
    nav.get_by_role("link", name="Alerts").focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.get_by_role("heading", name="Alerts")).to_be_visible()
    assert tab.page.url.endswith("#/alerts")
    tab.page.context.close()


def test_an_expired_token_goes_back_to_the_prompt_with_a_message(console: Console) -> None:
    expired = jwt("admin", "late", ttl=-60)
    console.page.evaluate("t => sessionStorage.setItem('eventshop.console.token', t)", expired)
    console.open("alerts")
    expect(console.page.get_by_role("heading", name="Sign in with an admin token")).to_be_visible()
    expect(console.page.get_by_role("alert")).to_contain_text("expired or was refused")
    assert console.page.evaluate("() => sessionStorage.length") == 0


def test_a_server_error_shows_the_error_and_keeps_the_page(console: Console) -> None:
    fail = {"Code": "InternalError", "Message": "the alerts table is on fire"}
    console.page.route(
        re.compile(r".*/ops/alerts\?.*"),
        lambda route: route.fulfill(status=500, json=fail),
    )
    console.open("alerts")
    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("the alerts table is on fire (HTTP 500)")
    expect(console.page.get_by_role("navigation", name="Pages")).to_be_visible()
    console.page.unroute(re.compile(r".*/ops/alerts\?.*"))
    alert.get_by_role("button", name="Try again").click()
    expect(console.page.get_by_role("table")).to_be_visible()


# --- orders ---------------------------------------------------------------------------


def test_an_order_appears_and_completes_on_screen_without_a_reload(
    console: Console, shop: Shop, stuck: dict[str, Any]
) -> None:
    console.open("orders")
    # The stuck order is not terminal: the page keeps refreshing itself.
    expect(row(console, stuck["orderId"])).to_contain_text("RESERVED")
    expect(console.page.locator(".refresh-note")).to_contain_text("refreshing every 2 s")
    console.page.evaluate("() => { window.__sameDocument = true; }")

    sku = shop.product(stock=10, price=1250)
    placed = shop.place("browser-customer", [(sku, 2)])
    expect(row(console, placed["orderId"])).to_be_visible()
    shop.stack.drain(timeout=90)
    expect(row(console, placed["orderId"]).locator(".badge")).to_have_text("COMPLETED")
    assert console.page.evaluate("() => window.__sameDocument") is True

    # Filters: by status and customer, linkable.
    console.page.get_by_label("Status").select_option("COMPLETED")
    console.page.get_by_label("Customer id").fill("browser-customer")
    console.page.get_by_role("button", name="Show").click()
    expect(console.page).to_have_url(
        re.compile(r"#/orders\?status=COMPLETED&customer=browser-customer$")
    )
    expect(row(console, placed["orderId"])).to_be_visible()
    expect(row(console, stuck["orderId"])).to_have_count(0)

    # Its page: the five events of a completed order, in order; lines, address, trace.
    console.page.get_by_role("link", name=placed["orderId"]).click()
    expect(console.page.get_by_role("heading", name=f"Order {placed['orderId']}")).to_be_visible()
    events = console.page.locator(".timeline li .event-type")
    expect(events).to_have_text(
        ["OrderPlaced", "StockReserved", "PaymentCaptured", "OrderShipped", "OrderCompleted"]
    )
    expect(console.page.locator("address")).to_contain_text("1 Main St")
    expect(console.page.get_by_role("button", name="Cancel order")).to_have_count(0)
    trace = console.page.locator("section", has_text="Deliveries (local trace)")
    expect(trace.locator("tbody tr").first).to_be_visible()
    expect(trace).to_contain_text("inventory_step")


def test_an_order_is_cancelled_from_its_page(console: Console, shop: Shop) -> None:
    sku = shop.product(stock=5)
    # Declined payments compensate; a tok_unavailable order waits RESERVED.
    order = shop.place("cancel-customer", [(sku, 1)], token="tok_unavailable")
    console.open(f"orders/{order['orderId']}")
    console.page.once("dialog", lambda dialog: dialog.accept())
    console.page.get_by_role("button", name="Cancel order").click()
    expect(console.page.locator(".flash")).to_contain_text("the cancel is accepted")
    shop.stack.drain(timeout=90)
    expect(console.page.locator(".facts .badge").first).to_have_text("CANCELLED")
    expect(console.page.locator(".timeline li .event-type").last).to_have_text(
        "CancellationCompleted"
    )


# --- dead letters ---------------------------------------------------------------------


def test_a_stuck_payment_is_in_its_dlq_with_a_reason_and_is_redriven(
    console: Console, shop: Shop, stuck: dict[str, Any]
) -> None:
    shop.stack.drain(timeout=90)  # the payment's receives run out: it is a dead letter
    console.open("dead-letters")
    depth = row(console, PAYMENTS_DLQ).locator("td.depth")
    expect(depth).not_to_have_text("0")
    row(console, PAYMENTS_DLQ).get_by_role("link", name=PAYMENTS_DLQ).click()
    expect(console.page).to_have_url(re.compile(f"#/dead-letters/{PAYMENTS_DLQ}$"))
    message = console.page.locator("tbody tr", has_text=stuck["orderId"])
    expect(message.locator(".reason")).to_contain_text("ProviderUnavailable: ")

    # Redrive asks first: dismissed, nothing moves.
    console.page.once("dialog", lambda dialog: dialog.dismiss())
    console.page.get_by_role("button", name="Redrive all").click()
    expect(message).to_be_visible()
    console.page.once("dialog", lambda dialog: dialog.accept())
    console.page.get_by_role("button", name="Redrive all").click()
    expect(console.page.locator(".flash")).to_contain_text("messages moved back")
    expect(depth).to_have_text("0")
    expect(console.page.get_by_text("No messages in this queue.")).to_be_visible()


def test_a_dead_letter_is_deleted_after_a_confirmation(console: Console, shop: Shop) -> None:
    sqs = shop.stack.client("sqs")
    queue = "eventshop-local-shipping-dlq"
    sent = sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
        MessageBody=json.dumps({"put": "by hand"}),
    )
    console.open(f"dead-letters/{queue}")
    mine = row(console, sent["MessageId"])
    expect(mine.locator(".reason")).to_have_text("(none recorded)")
    console.page.once("dialog", lambda dialog: dialog.accept())
    mine.get_by_role("button", name=f"Delete message {sent['MessageId']}").click()
    expect(mine).to_have_count(0)
    expect(row(console, queue).locator("td.depth")).to_have_text("0")


# --- catalog and images ---------------------------------------------------------------


def test_a_csv_with_one_bad_line_shows_that_lines_error(console: Console, shop: Shop) -> None:
    good, bad = f"CSV-{uuid.uuid4().hex[:8]}", f"CSV-{uuid.uuid4().hex[:8]}"
    csv = (
        "sku,name,priceCents,stock,lowStockThreshold\n"
        f"{good},Imported mug,1500,7,1\n"
        f"{bad},Broken price,-1,3,0\n"
    ).encode()
    console.open("catalog")
    console.page.get_by_label("CSV file", exact=True).set_input_files(
        {"name": "catalog.csv", "mimeType": "text/csv", "buffer": csv}
    )
    console.page.get_by_role("button", name="Import", exact=True).click()
    shop.stack.drain(timeout=60)
    result = console.page.locator(".import-result")
    expect(result.locator("dd").nth(1)).to_have_text("DONE")
    line = result.locator('tr[data-key="3"]')
    expect(line).to_contain_text("priceCents: Input should be greater than or equal to 0")
    expect(result.locator("tbody tr")).to_have_count(1)
    expect(row(console, good)).to_contain_text("Imported mug")
    expect(row(console, bad)).to_have_count(0)


def test_the_forms_show_the_apis_field_errors_next_to_the_fields(
    console: Console, low: str
) -> None:
    console.open("catalog")
    row(console, low).get_by_role("button", name=f"Edit {low}").click()
    form = console.page.get_by_role("form", name=f"Edit {low}")
    form.get_by_label("Price (cents)").fill("-5")
    form.get_by_role("button", name="Save").click()
    price = form.get_by_label("Price (cents)")
    expect(price).to_have_attribute("aria-invalid", "true")
    # The error sits next to its field, which names it (aria-describedby).
    error_id = f"{price.get_attribute('id')}-error"
    assert error_id in (price.get_attribute("aria-describedby") or "").split()
    expect(form.locator(f"#{error_id}")).to_have_text("Input should be greater than or equal to 0")
    expect(form.get_by_label("Name", exact=True)).not_to_have_attribute("aria-invalid", "true")
    form.get_by_label("Price (cents)").fill("990")
    form.get_by_role("button", name="Save").click()
    expect(row(console, low)).to_contain_text("9.90")

    row(console, low).get_by_role("button", name=f"Restock {low}").click()
    restock = console.page.get_by_role("form", name=f"Restock {low}")
    restock.get_by_label("Units to add").fill("0")
    restock.get_by_role("button", name="Restock").click()
    expect(restock.locator(".field-error")).to_contain_text("greater than or equal to 1")
    restock.get_by_label("Units to add").fill("4")
    restock.get_by_role("button", name="Restock").click()
    expect(row(console, low).locator("td").nth(3)).to_have_text("5")


def test_a_photo_uploaded_from_the_images_page_shows_its_thumbnail(
    console: Console, shop: Shop
) -> None:
    sku = shop.product(stock=3)
    console.open(f"images?sku={sku}")
    expect(console.page.get_by_text("No images of this product yet.")).to_be_visible()
    console.page.get_by_label("Photo", exact=True).set_input_files(
        {
            "name": "photo.jpg",
            "mimeType": "image/jpeg",
            "buffer": photo_jpeg(640, 480, make="Console", model="Cam 1"),
        }
    )
    console.page.get_by_role("button", name="Upload").click()
    card = console.page.locator(".image-card")
    expect(card).to_have_count(1)
    shop.stack.drain(timeout=60)
    expect(card).to_have_attribute("data-status", "READY")
    thumb = card.get_by_role("img", name=re.compile("200 px thumbnail"))
    expect(thumb).to_be_visible()
    # Loaded from the stack's S3 (the policy allows it): 200 px on its long side.
    size = thumb.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size == [200, 150], size
    expect(card).to_contain_text("640 \N{MULTIPLICATION SIGN} 480 px")
    # The EXIF sits in a details element, closed until asked for.
    exif = card.locator("details.exif")
    expect(exif.get_by_text("Console Cam 1")).to_be_hidden()
    exif.get_by_text("EXIF", exact=True).click()
    expect(exif.get_by_text("Console Cam 1")).to_be_visible()


def test_a_file_that_is_not_an_image_shows_as_failed_with_its_reason(
    console: Console, shop: Shop, browser: Any, stack: RunningStack, admin_token: str
) -> None:
    sku = shop.product(stock=3)
    console.open(f"images?sku={sku}")
    expect(console.page.get_by_text("No images of this product yet.")).to_be_visible()
    # A text file renamed .jpg: the browser declares it image/jpeg from its name.
    console.page.get_by_label("Photo", exact=True).set_input_files(
        {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"Milk, eggs, bread.\n"}
    )
    console.page.get_by_role("button", name="Upload").click()
    card = console.page.locator(".image-card")
    expect(card).to_have_count(1)
    shop.stack.drain(timeout=60)
    reason = "Failed: not an image: the file looks like text"
    expect(card).to_have_attribute("data-status", "FAILED")
    expect(card.locator(".badge")).to_have_text("FAILED")
    expect(card.locator(".image-reason")).to_have_text(reason)
    expect(card.get_by_role("img")).to_have_count(0)
    # From the product's listing, not remembered by the tab: another tab shows it too.
    other = new_tab(browser, stack.api_url, 1280)
    other.open()
    other.sign_in(admin_token)
    other.open(f"images?sku={sku}")
    listed = other.page.locator(".image-card")
    expect(listed).to_have_attribute("data-status", "FAILED")
    expect(listed.locator(".image-reason")).to_have_text(reason)
    other.page.context.close()


def test_html_from_the_api_is_shown_as_text(console: Console, low: str) -> None:
    dialogs: list[str] = []

    def seen(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    console.page.on("dialog", seen)
    console.open("catalog")
    name = row(console, "XSS-1").locator(".product-name")
    expect(name).to_have_text(XSS)
    assert console.page.locator("img[src='x']").count() == 0
    console.open("images?sku=XSS-1")
    expect(console.page.get_by_label("Product", exact=True)).to_contain_text(XSS)
    assert console.page.locator("img[src='x']").count() == 0
    assert dialogs == []


# --- every page, both widths ----------------------------------------------------------

PAGES = [
    ("overview", "Overview"),
    ("orders", "Orders"),
    ("order", "Order"),
    ("catalog", "Catalog"),
    ("images", "Images"),
    ("dead-letters", "Dead letters"),
    ("dead-letter-queue", "Dead letters"),
    ("alerts", "Alerts"),
    ("analytics", "Analytics"),
]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_without_console_errors_with_a_screenshot(
    browser: Any,
    stack: RunningStack,
    admin_token: str,
    stuck: dict[str, Any],
    low: str,
    width: int,
) -> None:
    routes = {
        "order": f"orders/{stuck['orderId']}",
        "images": "images?sku=XSS-1",
        "dead-letter-queue": f"dead-letters/{PAYMENTS_DLQ}",
    }
    tab = new_tab(browser, stack.api_url, width)
    tab.open()
    expect(tab.page.get_by_role("heading", name="Sign in with an admin token")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=SHOTS / f"sign-in-{width}.png", full_page=True)
    tab.sign_in(admin_token)
    for name, heading in PAGES:
        tab.open(routes.get(name, name))
        expect(tab.page.get_by_role("heading", name=heading, exact=False).first).to_be_visible()
        tab.settled()
        # No error on the page (the empty places errors go into do not count).
        shown = tab.page.locator("main [role=alert]").filter(has_text=re.compile(r"\S"))
        assert shown.all_inner_texts() == [], name
        tab.page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        # Readable at this width: nothing wider than the window.
        overflow = tab.page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= width, (name, overflow)
        # Every control has a label (its accessible name).
        unlabelled = tab.page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(el => !el.closest('[hidden]'))
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !(el.textContent || '').trim())
                .map(el => el.outerHTML)"""
        )
        assert unlabelled == [], (name, unlabelled)
    assert tab.errors == []
    tab.page.context.close()
