// Orders: every order newest first, by status and customer, a page at a time;
// refreshed every 2 s while any order on screen is not terminal.

import { api } from "./api.js";
import { badge, cents, failure, field, h, loading, ORDER_STATUSES, replace, table, TERMINAL, when } from "./dom.js";

export const REFRESH_MS = 2000;

function filters(ctx) {
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any status"),
    ORDER_STATUSES.map((s) => h("option", { value: s, selected: ctx.query.status === s }, s)),
  );
  const customer = h("input", { name: "customer", type: "search", value: ctx.query.customer || "", autocomplete: "off" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter orders" },
    field("Status", status),
    field("Customer id", customer),
    h("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go("orders", { status: status.value, customer: customer.value.trim() });
  });
  return form;
}

function rows(ctx, items) {
  return table(
    "Orders, newest first",
    [
      { label: "Order", cell: (o) => h("a", { href: ctx.link(`orders/${encodeURIComponent(o.orderId)}`) }, o.orderId) },
      { label: "Customer", cell: (o) => o.customerId },
      { label: "Status", cell: (o) => badge(o.status) },
      { label: "Total", class: "num", cell: (o) => cents(o.totalCents) },
      { label: "Items", class: "num", cell: (o) => String(o.items.reduce((n, i) => n + i.quantity, 0)) },
      { label: "Placed", cell: (o) => when(o.createdAt) },
      { label: "Updated", cell: (o) => when(o.updatedAt) },
    ],
    items,
    { empty: "No orders match.", rowKey: (o) => o.orderId },
  );
}

export async function render(ctx) {
  const { status, customer, cursor } = ctx.query;
  const list = h("div", { class: "orders-list" }, loading());
  const note = h("p", { class: "hint refresh-note", "aria-live": "off" });
  const problem = h("div", {});
  const pager = h("nav", { class: "pager", "aria-label": "Pages of orders" });
  replace(ctx.main, h("h1", {}, "Orders"), filters(ctx), problem, note, list, pager);

  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));
  const query = { limit: 20, status, customerId: customer, cursor };

  const load = async () => {
    timer = null;
    let page;
    try {
      page = await api("orders", { query, signal: ctx.signal });
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      // Keep what is on screen; say what failed, and try again later.
      replace(problem, failure(error, load));
      if (!list.querySelector("table, .empty")) replace(list);
      timer = setTimeout(load, REFRESH_MS * 2);
      return;
    }
    if (!ctx.active()) return;
    replace(problem);
    replace(list, rows(ctx, page.items));
    replace(
      pager,
      cursor ? h("a", { href: ctx.link("orders", { status, customer }) }, "First page") : null,
      page.nextCursor ? h("a", { href: ctx.link("orders", { status, customer, cursor: page.nextCursor }), rel: "next" }, "Next page") : null,
    );
    const moving = page.items.some((o) => !TERMINAL.has(o.status));
    note.textContent = moving
      ? `Updated ${when(new Date().toISOString())}; refreshing every ${REFRESH_MS / 1000} s while an order on screen is in progress.`
      : `Updated ${when(new Date().toISOString())}.`;
    if (moving) timer = setTimeout(load, REFRESH_MS);
  };
  await load();
}
