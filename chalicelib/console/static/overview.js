// Overview: today's orders by status and revenue, the DLQs, the newest
// alerts, the catalog's low-stock products and, locally, the stack's sources.

import { allPages, api, isLocal, local } from "./api.js";
import { ageText, badge, cents, failure, facts, h, loading, ORDER_STATUSES, replace, section, table, when } from "./dom.js";

const MAX_PAGES = 5;

function today() {
  return new Date().toISOString().slice(0, 10);
}

// Today's orders (newest first until one placed before today), up to 5 pages.
async function ordersToday(signal) {
  const day = today();
  const counts = {};
  let cursor = null;
  let complete = false;
  for (let pageNo = 0; pageNo < MAX_PAGES; pageNo++) {
    const page = await api("orders", { query: { limit: 100, cursor }, signal });
    for (const o of page.items) {
      if (String(o.createdAt).slice(0, 10) !== day) {
        complete = true;
        break;
      }
      counts[o.status] = (counts[o.status] || 0) + 1;
    }
    if (complete || !page.nextCursor) {
      complete = true;
      break;
    }
    cursor = page.nextCursor;
  }
  return { counts, complete };
}

// Each part loads on its own: one that fails shows its error, the rest stay.
function part(ctx, title, load, show) {
  const body = h("div", {}, loading());
  const run = async () => {
    replace(body, loading());
    try {
      const value = await load(ctx.signal);
      if (ctx.active()) replace(body, show(value));
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError" && error.name !== "Unauthorized") {
        replace(body, failure(error, run));
      }
    }
  };
  run();
  return section(title, body);
}

export async function render(ctx) {
  const day = today();
  const parts = [
    part(
      ctx,
      "Today",
      async (signal) => {
        const [daily, listed] = await Promise.all([
          api("analytics/daily", { query: { from: day, to: day }, signal }),
          ordersToday(signal),
        ]);
        return { daily: daily.items[0] || {}, listed };
      },
      ({ daily, listed }) => [
        facts([
          ["Day", `${day} (UTC)`],
          ["Orders placed", String(daily.orders ?? 0)],
          ["Revenue (completed)", cents(daily.revenueCents ?? 0)],
          ["Units ordered", String(daily.units ?? 0)],
        ]),
        h("h3", {}, listed.complete ? "Today's orders by status" : "Today's newest 500 orders by status"),
        h(
          "ul",
          { class: "statuses", "aria-label": "Today's orders by status" },
          ORDER_STATUSES.map((s) =>
            h(
              "li",
              { dataset: { status: s } },
              h("a", { href: ctx.link("orders", { status: s }) }, badge(s)),
              h("span", { class: "count" }, String(listed.counts[s] || 0)),
            ),
          ),
        ),
      ],
    ),
    part(
      ctx,
      "Dead letters",
      (signal) => api("ops/dead-letters", { signal }),
      (dlqs) =>
        table(
          "Dead-letter queues and their depth",
          [
            { label: "Queue", cell: (q) => h("a", { href: ctx.link(`dead-letters/${encodeURIComponent(q.queue)}`) }, q.queue) },
            { label: "Depth", class: "num", cell: (q) => h("span", { class: q.depth ? "warn" : "" }, String(q.depth)) },
            { label: "Oldest", class: "num", cell: (q) => ageText(q.oldestAgeSeconds) },
          ],
          dlqs.items,
          { empty: "No dead-letter queues.", rowKey: (q) => q.queue },
        ),
    ),
    part(
      ctx,
      "Newest alerts",
      (signal) => api("ops/alerts", { query: { limit: 5 }, signal }),
      (alerts) => [
        table(
          "The newest alerts",
          [
            { label: "Kind", cell: (a) => a.kind },
            { label: "Subject", cell: (a) => a.subject },
            { label: "At", cell: (a) => when(a.at) },
          ],
          alerts.items,
          { empty: "No alerts." },
        ),
        h("p", {}, h("a", { href: ctx.link("alerts") }, "All alerts")),
      ],
    ),
    part(
      ctx,
      "Catalog",
      (signal) => allPages("products", { signal, auth: false }),
      ({ items, complete }) => {
        const low = items.filter((p) => p.stock < p.lowStockThreshold);
        return [
          h("p", { class: "catalog-count" }, `${items.length}${complete ? "" : "+"} products, ${low.length} low on stock.`),
          table(
            "Products low on stock",
            [
              { label: "SKU", cell: (p) => p.sku },
              { label: "Name", cell: (p) => p.name },
              { label: "Stock", class: "num", cell: (p) => String(p.stock) },
              { label: "Threshold", class: "num", cell: (p) => String(p.lowStockThreshold) },
            ],
            low,
            { empty: "No product is below its low-stock threshold.", rowKey: (p) => p.sku },
          ),
          h("p", {}, h("a", { href: ctx.link("catalog") }, "The catalog")),
        ];
      },
    ),
  ];
  if (isLocal()) {
    parts.push(
      part(
        ctx,
        "Local stack",
        (signal) => local("_devstack/status", { signal }),
        (status) => {
          if (!status) return h("p", { class: "empty" }, "This stack does not show its event sources.");
          const outcomes = status.byOutcome || {};
          return [
            facts([
              ["Stack clock", when(status.clock)],
              ["Deliveries", `${status.deliveries ?? 0} (ok ${outcomes.ok ?? 0}, partial ${outcomes.partial ?? 0}, error ${outcomes.error ?? 0})`],
            ]),
            table(
              "The local stack's event sources",
              [
                { label: "Kind", cell: (s) => s.kind },
                { label: "Handler", cell: (s) => s.handler },
                { label: "Source", cell: (s) => s.queue || s.stream || s.topic || s.bucket || s.rule || "" },
                { label: "Busy", cell: (s) => (s.busy ? "yes" : "no") },
                { label: "Polls", class: "num", cell: (s) => String(s.cycles ?? "") },
                { label: "Errors", class: "num", cell: (s) => String(s.pollErrors ?? 0) },
              ],
              Array.isArray(status.sources) ? status.sources : [],
              { empty: "No event sources." },
            ),
          ];
        },
      ),
    );
  }
  replace(ctx.main, h("h1", {}, "Overview"), h("div", { class: "grid" }, parts));
}
