"""CatalogService over the in-memory repository: catalog, stock, alerts."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.catalog.model import MAX_STOCK, Line
from chalicelib.catalog.ports import StockChange
from chalicelib.catalog.service import CatalogService
from chalicelib.platform import errors
from tests.support.fakes import FakeAlerts, FakeCatalogRepository, FakeJoint

T0 = "2025-01-01T00:00:00.000Z"


@pytest.fixture
def alerts() -> FakeAlerts:
    return FakeAlerts()


@pytest.fixture
def repo() -> FakeCatalogRepository:
    return FakeCatalogRepository()


@pytest.fixture
def service(repo: FakeCatalogRepository, alerts: FakeAlerts) -> CatalogService:
    return CatalogService(repo, alerts, clock=lambda: T0)


def product(price: Any = 500, stock: Any = 10, threshold: Any = 3, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Mug",
        "priceCents": price,
        "stock": stock,
        "lowStockThreshold": threshold,
        **extra,
    }


def without_stock(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "stock"}


def stocks(service: CatalogService, *skus: str) -> list[int]:
    return [service.get(s).stock for s in skus]


def commit(change: object) -> list[str] | None:
    """Commit a stock change as the orders repository would with an order's
    write: None, or the reasons it was refused (nothing written)."""
    assert isinstance(change, FakeJoint)
    return change.commit()


# --- catalog -------------------------------------------------------------------------


def test_put_creates_and_replaces(service: CatalogService) -> None:
    created = service.put_product("MUG-1", product())
    replaced = service.put_product("MUG-1", without_stock(product(price=700)))

    assert (created.sku, created.priceCents, created.stock, created.updatedAt) == (
        "MUG-1",
        500,
        10,
        T0,
    )
    assert service.get("MUG-1") == replaced
    # A PUT replaces the descriptive fields only: the stock is the created one.
    assert (replaced.priceCents, replaced.stock) == (700, 10)
    assert (created.version, replaced.version) == (1, 2)


def test_a_put_naming_the_current_stock_changes_the_rest(service: CatalogService) -> None:
    service.put_product("MUG-1", product(stock=10))

    same = service.put_product("MUG-1", product(price=1, stock=10, threshold=0))

    assert (same.priceCents, same.stock, same.lowStockThreshold) == (1, 10, 0)


def test_a_put_naming_another_stock_is_a_conflict_and_changes_nothing(
    service: CatalogService,
) -> None:
    before = service.put_product("MUG-1", product(stock=10))

    with pytest.raises(errors.Conflict) as caught:
        service.put_product("MUG-1", product(price=1, stock=2))

    message = caught.value.message
    assert message.startswith("the stock of MUG-1 is 10, not 2: a PUT does not change stock")
    assert "POST /products/MUG-1/restock" in message
    assert "POST /products/MUG-1/stock-adjustments" in message
    assert service.get("MUG-1") == before


def test_a_put_after_a_reservation_then_a_cancel_leaves_the_admins_stock(
    service: CatalogService,
) -> None:
    """Set 10, one order of 5 reserved, PUT stock 10, cancel: 10, not 15."""
    service.put_product("MUG-1", product(stock=10))
    lines = [Line(sku="MUG-1", quantity=5)]
    assert commit(service.taking(lines)) is None

    with pytest.raises(errors.Conflict):
        service.put_product("MUG-1", product(stock=10))
    assert service.put_product("MUG-1", without_stock(product(price=9))).stock == 5
    assert commit(service.giving_back(lines)) is None

    assert stocks(service, "MUG-1") == [10]


def test_a_get_then_put_back_loop_never_moves_stock(service: CatalogService) -> None:
    """Orders interleaved with an admin writing back what it read: 30 orders of
    one unit on stock 20 sell exactly 20."""
    service.put_product("MUG-1", product(stock=20))
    fields = {"name", "priceCents", "stock"}
    outcomes = []
    for _ in range(30):
        seen = service.get("MUG-1").model_dump(include=fields)
        refused = commit(service.taking([Line(sku="MUG-1", quantity=1)]))
        outcomes.append("RESERVED" if refused is None else "SHORT")
        if outcomes[-1] == "RESERVED":
            with pytest.raises(errors.Conflict):
                service.put_product("MUG-1", seen)  # stale by one reservation
        else:
            assert service.put_product("MUG-1", seen).stock == 0
        service.put_product("MUG-1", service.get("MUG-1").model_dump(include=fields))

    assert outcomes == ["RESERVED"] * 20 + ["SHORT"] * 10
    assert stocks(service, "MUG-1") == [0]


def test_a_create_without_stock_is_a_400_naming_stock(
    service: CatalogService, repo: FakeCatalogRepository
) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        service.put_product("MUG-1", without_stock(product()))

    assert caught.value.message.startswith("stock: ")
    assert caught.value.errors == [{"loc": ["stock"], "msg": "required to create a product"}]
    assert repo.get("MUG-1") is None


def test_a_second_create_does_not_set_the_stock(service: CatalogService) -> None:
    """Two admins creating the same sku: the conditional create lets one set the
    stock; the other's PUT is an update, refused for naming another stock."""
    service.put_product("MUG-1", product(stock=10))

    with pytest.raises(errors.Conflict):
        service.put_product("MUG-1", product(stock=7))

    assert stocks(service, "MUG-1") == [10]


def test_a_create_at_the_maximum_stock(service: CatalogService) -> None:
    assert service.put_product("MUG-1", product(stock=MAX_STOCK)).stock == MAX_STOCK


def test_threshold_defaults_to_zero(service: CatalogService) -> None:
    assert (
        service.put_product("A", {"name": "A", "priceCents": 1, "stock": 1}).lowStockThreshold == 0
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (product(price=-1), "priceCents"),
        (product(price="5"), "priceCents"),
        (product(price=1.5), "priceCents"),
        (product(stock=-1), "stock"),
        (product(stock=1_000_000_001), "stock"),
        (product(stock=None), "stock"),
        (product(stock="5"), "stock"),
        (product(threshold=-1), "lowStockThreshold"),
        (product(colour="red"), "colour"),
        ({"priceCents": 1, "stock": 1}, "name"),
        (product() | {"name": ""}, "name"),
    ],
)
def test_put_validation_names_the_field(
    service: CatalogService, repo: FakeCatalogRepository, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        service.put_product("MUG-1", payload)
    assert caught.value.message.startswith(f"{field}: ")
    assert repo.get("MUG-1") is None


@pytest.mark.parametrize("sku", ["has space", "a/b", "", "x" * 65, "ü"])
def test_put_rejects_bad_skus(service: CatalogService, sku: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        service.put_product(sku, product())
    assert caught.value.errors == [{"loc": ["path", "sku"], "msg": "invalid sku"}]


def test_restock_adds_stock(service: CatalogService) -> None:
    service.put_product("A", product(stock=1))
    assert service.restock("A", {"quantity": 4}).stock == 5
    assert service.get("A").stock == 5


@pytest.mark.parametrize(
    "payload",
    [{"quantity": 0}, {"quantity": "4"}, {"quantity": -3}, {}, {"quantity": 1, "note": "x"}, [4]],
)
def test_restock_validation(service: CatalogService, payload: Any) -> None:
    service.put_product("A", product(stock=1))
    with pytest.raises(errors.InvalidInput):
        service.restock("A", payload)
    assert service.get("A").stock == 1


def test_restock_of_an_unknown_product_is_not_found(service: CatalogService) -> None:
    with pytest.raises(errors.NotFound):
        service.restock("NOPE", {"quantity": 1})


def test_restock_records_who_restocked(
    service: CatalogService, repo: FakeCatalogRepository
) -> None:
    service.put_product("A", product(stock=1))
    service.restock("A", {"quantity": 2}, by="ops-1")
    assert repo.last_stock_change("A") == StockChange("restock", "ops-1")


@pytest.mark.parametrize(
    ("stock", "quantity"), [(MAX_STOCK, MAX_STOCK), (MAX_STOCK, 1), (5, MAX_STOCK)]
)
def test_restock_beyond_the_maximum_is_a_conflict(
    service: CatalogService, stock: int, quantity: int
) -> None:
    """10^9 onto 10^9 was 2x10^9, which no PUT would accept again."""
    service.put_product("A", product(stock=stock))

    with pytest.raises(errors.Conflict) as caught:
        service.restock("A", {"quantity": quantity})

    assert caught.value.message == (
        f"the stock of A is {stock}: adding {quantity} would exceed "
        f"the maximum stock of {MAX_STOCK}"
    )
    assert stocks(service, "A") == [stock]


def test_restock_up_to_the_maximum(service: CatalogService) -> None:
    service.put_product("A", product(stock=MAX_STOCK - 3))
    assert service.restock("A", {"quantity": 3}).stock == MAX_STOCK


# --- stock adjustments ---------------------------------------------------------------


def test_an_adjustment_moves_the_stock_both_ways_and_keeps_its_reason(
    service: CatalogService, repo: FakeCatalogRepository
) -> None:
    service.put_product("A", product(stock=10))

    down = service.adjust_stock("A", {"delta": -4, "reason": "broken in transit"}, by="ops-1")
    up = service.adjust_stock("A", {"delta": 1, "reason": "found one"}, by="ops-2")

    assert (down.stock, up.stock, up.version) == (6, 7, 3)
    assert repo.last_stock_change("A") == StockChange("found one", "ops-2")
    assert stocks(service, "A") == [7]


def test_an_adjustment_to_exactly_zero(service: CatalogService) -> None:
    service.put_product("A", product(stock=3))
    assert service.adjust_stock("A", {"delta": -3, "reason": "recount"}).stock == 0


def test_an_adjustment_below_zero_is_a_conflict_not_a_clamp(service: CatalogService) -> None:
    service.put_product("A", product(stock=3))

    with pytest.raises(errors.Conflict) as caught:
        service.adjust_stock("A", {"delta": -4, "reason": "recount"})

    assert caught.value.message == "the stock of A is 3: removing 4 would take it below 0"
    assert stocks(service, "A") == [3]


def test_an_adjustment_above_the_maximum_is_a_conflict(service: CatalogService) -> None:
    service.put_product("A", product(stock=MAX_STOCK - 1))

    with pytest.raises(errors.Conflict) as caught:
        service.adjust_stock("A", {"delta": 2, "reason": "recount"})

    assert "adding 2 would exceed the maximum stock" in caught.value.message
    assert service.adjust_stock("A", {"delta": 1, "reason": "recount"}).stock == MAX_STOCK


def test_an_adjustment_of_an_unknown_product_is_not_found(service: CatalogService) -> None:
    with pytest.raises(errors.NotFound):
        service.adjust_stock("NOPE", {"delta": 1, "reason": "x"})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"delta": 0, "reason": "x"}, "delta"),
        ({"delta": "1", "reason": "x"}, "delta"),
        ({"delta": 1.5, "reason": "x"}, "delta"),
        ({"delta": True, "reason": "x"}, "delta"),
        ({"delta": MAX_STOCK + 1, "reason": "x"}, "delta"),
        ({"delta": -MAX_STOCK - 1, "reason": "x"}, "delta"),
        ({"reason": "x"}, "delta"),
        ({"delta": 1}, "reason"),
        ({"delta": 1, "reason": ""}, "reason"),
        ({"delta": 1, "reason": "   "}, "reason"),
        ({"delta": 1, "reason": "x" * 201}, "reason"),
        ({"delta": 1, "reason": 5}, "reason"),
        ({"delta": 1, "reason": "x", "note": "y"}, "note"),
    ],
)
def test_adjustment_validation_names_the_field(
    service: CatalogService, payload: dict[str, Any], field: str
) -> None:
    service.put_product("A", product(stock=5))
    with pytest.raises(errors.InvalidInput) as caught:
        service.adjust_stock("A", payload)
    assert caught.value.message.startswith(f"{field}: ")
    assert stocks(service, "A") == [5]


def test_an_adjustment_of_a_bad_sku_is_a_400(service: CatalogService) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        service.adjust_stock("a/b", {"delta": 1, "reason": "x"})
    assert caught.value.errors == [{"loc": ["path", "sku"], "msg": "invalid sku"}]


def test_get_unknown_is_not_found(service: CatalogService) -> None:
    with pytest.raises(errors.NotFound):
        service.get("NOPE")


def test_prices_cover_known_skus_only(service: CatalogService) -> None:
    service.put_product("A", product(price=150))
    service.put_product("B", product(price=0))
    assert service.prices(["A", "B", "C", "A"]) == {"A": 150, "B": 0}


def test_list_pages_in_sku_order(service: CatalogService) -> None:
    for sku in ("C", "A", "B"):
        service.put_product(sku, product())
    first = service.list_products(2, None)
    second = service.list_products(2, first.last_key)

    assert [p.sku for p in first.products + second.products] == ["A", "B", "C"]
    assert second.last_key is None
    with pytest.raises(errors.InvalidInput):
        service.list_products(2, {"gsi1pk": "CUSTOMER#x", "gsi1sk": "A"})


# --- stock ---------------------------------------------------------------------------


# A reservation, its release and its shipment are changes the orders context
# commits with the order's own event (FakeJoint stands for that commit here);
# that the order's conditional write makes each happen once is the saga's
# test (tests/unit/checkout/test_saga.py) and the contract's
# (tests/integration/test_repository_contracts.py).


def test_taking_takes_every_line(service: CatalogService) -> None:
    service.put_product("A", product(stock=5))
    service.put_product("B", product(stock=2))

    assert commit(service.taking([Line(sku="A", quantity=5), Line(sku="B", quantity=1)])) is None

    assert stocks(service, "A", "B") == [0, 1]


def test_taking_is_all_or_nothing_and_names_the_short_skus(service: CatalogService) -> None:
    service.put_product("A", product(stock=5))
    service.put_product("B", product(stock=1))
    service.put_product("C", product(stock=0))
    lines = [
        Line(sku="A", quantity=1),
        Line(sku="B", quantity=2),
        Line(sku="C", quantity=1),
        Line(sku="Z", quantity=1),
    ]

    reasons = commit(service.taking(lines))

    assert reasons is not None
    assert service.shortage(lines, reasons) == ["B", "C", "Z"]
    assert stocks(service, "A", "B", "C") == [5, 1, 0]


def test_giving_back_returns_what_was_taken(service: CatalogService) -> None:
    service.put_product("A", product(stock=5))
    service.put_product("B", product(stock=5))
    lines = [Line(sku="A", quantity=2), Line(sku="B", quantity=3)]
    assert commit(service.taking(lines)) is None
    assert stocks(service, "A", "B") == [3, 2]

    assert commit(service.giving_back(lines)) is None

    assert stocks(service, "A", "B") == [5, 5]


def test_giving_back_past_the_maximum_is_refused_unless_told_to_fill(
    service: CatalogService,
) -> None:
    service.put_product("A", product(stock=5))
    lines = [Line(sku="A", quantity=2)]
    assert commit(service.taking(lines)) is None
    service.restock("A", {"quantity": MAX_STOCK - 4})

    refused = commit(service.giving_back(lines))
    assert refused is not None and service.shortage(lines, refused) == ["A"]
    assert stocks(service, "A") == [MAX_STOCK - 1]
    assert commit(service.giving_back(lines, frozenset({"A"}))) is None
    assert stocks(service, "A") == [MAX_STOCK]


def test_alert_shortage(service: CatalogService, alerts: FakeAlerts) -> None:
    service.alert_shortage("o1", ["A", "B"])
    assert alerts.sent == [
        (
            "LOW_STOCK",
            "order o1 rejected: out of stock",
            {"orderId": "o1", "skus": ["A", "B"]},
        )
    ]


# --- low-stock alerts ----------------------------------------------------------------


def image(sku: str = "A", stock: int = 5, threshold: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "pk": f"PRODUCT#{sku}",
        "sk": "PRODUCT",
        "sku": sku,
        "stock": stock,
        "lowStockThreshold": threshold,
        **extra,
    }


def test_a_crossing_below_the_threshold_alerts(service: CatalogService, alerts: FakeAlerts) -> None:
    assert service.alert_crossings([(image(stock=3), image(stock=2))]) == 1
    assert alerts.sent == [
        (
            "LOW_STOCK",
            "A is low on stock (2 left)",
            {"sku": "A", "stock": 2, "lowStockThreshold": 3},
        )
    ]


def test_a_crossing_is_one_alert_however_often_its_record_is_heard(
    service: CatalogService, alerts: FakeAlerts
) -> None:
    crossing = (image(stock=3, version=7), image(stock=2, version=8))
    service.alert_crossings([crossing])
    service.alert_crossings([crossing])  # the stream redelivers the batch
    later = (image(stock=6, version=9), image(stock=1, version=10))
    service.alert_crossings([later])
    ids = [a.alert_id for a in alerts.alerts]
    assert ids == ["LOW_STOCK#A#8", "LOW_STOCK#A#8", "LOW_STOCK#A#10"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (5, 3),  # down to the threshold: not below it
        (2, 1),  # already below
        (2, 2),  # unchanged, below
        (1, 4),  # restocked
        (3, 3),  # at the threshold, unchanged
    ],
)
def test_no_alert_without_a_crossing(
    service: CatalogService, alerts: FakeAlerts, old: int, new: int
) -> None:
    assert service.alert_crossings([(image(stock=old), image(stock=new))]) == 0
    assert alerts.sent == []


def test_a_new_product_below_its_threshold_alerts(
    service: CatalogService, alerts: FakeAlerts
) -> None:
    assert service.alert_crossings([(None, image(stock=1))]) == 1
    assert service.alert_crossings([(None, image(sku="B", stock=3))]) == 0
    assert alerts.kinds() == ["LOW_STOCK"]


def test_each_crossing_alerts_once_per_batch(service: CatalogService, alerts: FakeAlerts) -> None:
    changes = [
        (image(stock=5), image(stock=4)),
        (image(stock=4), image(stock=2)),  # crosses
        (image(stock=2), image(stock=1)),
        (image(stock=1), image(stock=6)),
        (image(stock=6), image(stock=0)),  # crosses again after a restock
        (image(sku="B", stock=9, threshold=9), image(sku="B", stock=8, threshold=9)),
    ]
    assert service.alert_crossings(changes) == 3
    assert [d["sku"] for _, _, d in alerts.sent] == ["A", "A", "B"]


def test_other_items_and_deletions_are_ignored(service: CatalogService, alerts: FakeAlerts) -> None:
    reservation = {
        "pk": "RESERVATION#o1",
        "sk": "RESERVATION",
        "state": "RESERVED",
        "stock": 0,
        "lowStockThreshold": 5,
        "sku": "X",
    }
    changes = [(None, reservation), (reservation, None), (image(stock=9), None)]
    assert service.alert_crossings(changes) == 0
    assert alerts.sent == []


def test_zero_threshold_never_alerts(service: CatalogService, alerts: FakeAlerts) -> None:
    assert (
        service.alert_crossings([(image(stock=1, threshold=0), image(stock=0, threshold=0))]) == 0
    )
