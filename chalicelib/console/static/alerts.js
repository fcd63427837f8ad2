// Alerts: everything on the ops-alerts topic, newest first, a page at a time.

import { api } from "./api.js";
import { h, json, replace, table, when } from "./dom.js";

export async function render(ctx) {
  const cursor = ctx.query.cursor;
  const page = await api("ops/alerts", { query: { limit: 50, cursor }, signal: ctx.signal });
  if (!ctx.active()) return;
  replace(
    ctx.main,
    h("h1", {}, "Alerts"),
    table(
      "Alerts, newest first",
      [
        { label: "At", cell: (a) => when(a.at) },
        { label: "Kind", cell: (a) => h("span", { class: `badge badge-${String(a.kind).toLowerCase()}` }, a.kind) },
        { label: "Subject", cell: (a) => a.subject },
        { label: "Data", cell: (a) => h("details", {}, h("summary", {}, "Data"), h("pre", {}, json(a.data))) },
      ],
      page.items,
      { empty: "No alerts.", rowKey: (a) => a.alertId },
    ),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages of alerts" },
      cursor ? h("a", { href: ctx.link("alerts") }, "First page") : null,
      page.nextCursor ? h("a", { href: ctx.link("alerts", { cursor: page.nextCursor }), rel: "next" }, "Next page") : null,
    ),
  );
}
