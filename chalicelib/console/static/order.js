// One order: lines, totals, address, its event history as a timeline, the
// cancel action and, on a local stack, the trace of its deliveries.

import { api, ApiError, isLocal, local } from "./api.js";
import { badge, cents, facts, failure, h, json, loading, replace, section, table, TERMINAL, when } from "./dom.js";

const REFRESH_MS = 2000;
// The statuses from which a cancel is accepted (API: 409 from SHIPPED on).
const CANCELLABLE = new Set(["PLACED", "RESERVED", "PAID"]);

function summary(order) {
  return facts([
    ["Status", badge(order.status)],
    ["Customer", order.customerId],
    ["Total", cents(order.totalCents)],
    ["Reason", order.reason ?? "–"],
    ["Tracking number", order.trackingNumber ?? "–"],
    ["Placed", when(order.createdAt)],
    ["Updated", when(order.updatedAt)],
    ["Version", String(order.version)],
  ]);
}

function lines(order) {
  return table(
    "The order's lines",
    [
      { label: "SKU", cell: (l) => l.sku },
      { label: "Quantity", class: "num", cell: (l) => String(l.quantity) },
      { label: "Unit price", class: "num", cell: (l) => cents(l.unitPriceCents) },
      { label: "Line total", class: "num", cell: (l) => cents(l.lineTotalCents) },
    ],
    order.items,
  );
}

function address(order) {
  const a = order.shippingAddress || {};
  return h(
    "address",
    {},
    [a.name, a.line1, a.line2, `${a.postalCode ?? ""} ${a.city ?? ""}`.trim(), a.country]
      .filter((part) => part)
      .map((part) => h("span", { class: "line" }, part)),
  );
}

function timeline(events) {
  if (!events.length) return h("p", { class: "empty" }, "No events yet.");
  return h(
    "ol",
    { class: "timeline", "aria-label": "The order's events, oldest first" },
    events.map((e) =>
      h(
        "li",
        { dataset: { type: e.type } },
        h("span", { class: "event-type" }, e.type),
        h("span", { class: "event-at" }, ` ${when(e.at)} · v${e.version}`),
        e.data && Object.keys(e.data).length ? h("pre", { class: "event-data" }, json(e.data)) : null,
      ),
    ),
  );
}

function trace(t) {
  if (!t) return h("p", { class: "empty" }, "This stack does not trace deliveries.");
  const deliveries = Array.isArray(t.deliveries) ? t.deliveries : [];
  return table(
    "The deliveries of the order's messages, in order",
    [
      { label: "At", cell: (d) => when(d.at) },
      { label: "Handler", cell: (d) => d.handler },
      { label: "Source", cell: (d) => d.source },
      { label: "Duration", class: "num", cell: (d) => (typeof d.durationMs === "number" ? `${d.durationMs.toFixed(1)} ms` : "–") },
      { label: "Outcome", cell: (d) => h("span", { class: `outcome outcome-${String(d.outcome)}` }, d.outcome) },
      {
        label: "Logs",
        cell: (d) =>
          Array.isArray(d.logs) && d.logs.length
            ? h("details", {}, h("summary", {}, `${d.logs.length} lines`), h("pre", {}, d.logs.join("\n")))
            : "–",
      },
    ],
    deliveries,
    { empty: "No deliveries traced for this order yet." },
  );
}

export async function render(ctx) {
  const id = ctx.params.orderId;
  const head = h("div", {}, loading("Loading the order…"));
  const problem = h("div", {});
  const actions = h("div", { class: "actions" });
  const parts = h("div", { class: "grid" });
  replace(
    ctx.main,
    h("p", {}, h("a", { href: ctx.link("orders") }, "← Orders")),
    h("h1", {}, "Order ", h("span", { class: "mono" }, id)),
    problem,
    head,
    actions,
    parts,
  );
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));

  const cancel = async (button) => {
    if (!window.confirm(`Cancel order ${id}? The stock goes back and any payment is refunded.`)) return;
    button.disabled = true;
    try {
      const order = await api(`orders/${encodeURIComponent(id)}/cancel`, { method: "POST", signal: ctx.signal });
      ctx.flash(`Order ${id} is ${order.status}: the cancel is accepted.`);
      clearTimeout(timer);
      await load();
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      button.disabled = false;
      replace(problem, failure(error));
    }
  };

  const load = async () => {
    timer = null;
    let order;
    let events;
    try {
      [order, events] = await Promise.all([
        api(`orders/${encodeURIComponent(id)}`, { signal: ctx.signal }),
        api(`orders/${encodeURIComponent(id)}/events`, { signal: ctx.signal }),
      ]);
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      if (error instanceof ApiError && error.status === 404) {
        replace(head, h("p", { class: "error", role: "alert" }, `There is no order ${id}.`));
        return;
      }
      replace(head);
      replace(problem, failure(error, load));
      timer = setTimeout(load, REFRESH_MS * 2);
      return;
    }
    const traced = await local(`_devstack/trace/${encodeURIComponent(id)}`, { signal: ctx.signal });
    if (!ctx.active()) return;
    replace(problem);
    replace(head, summary(order));
    const button = h("button", { type: "button", class: "danger" }, "Cancel order");
    button.addEventListener("click", () => cancel(button));
    replace(actions, CANCELLABLE.has(order.status) ? button : null);
    replace(
      parts,
      section("Lines", lines(order)),
      section("Shipping address", address(order)),
      section("Events", timeline(events.items)),
      isLocal() ? section("Deliveries (local trace)", trace(traced)) : null,
    );
    if (!TERMINAL.has(order.status)) timer = setTimeout(load, REFRESH_MS);
  };
  await load();
}
