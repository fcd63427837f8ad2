// Analytics: orders and revenue per day as SVG bar charts, and the products
// that sold most (completed orders).

import { api } from "./api.js";
import { cents, failure, field, h, loading, replace, section, svg, table } from "./dom.js";

const RANGES = [7, 14, 30, 90];
const W = 720;
const H = 220;
const PAD = { top: 16, right: 12, bottom: 36, left: 56 };

function day(offset) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - offset);
  return d.toISOString().slice(0, 10);
}

// A bar per day, its value in a <title> (hover) and the whole as role=img.
export function barChart(id, title, days, value, format, floor = 4) {
  const values = days.map(value);
  // An even top (so the middle tick is a whole number), at least ``floor``.
  const max = Math.ceil(Math.max(floor, ...values) / 2) * 2;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(1, days.length);
  const barW = Math.max(2, step * 0.7);
  const ticks = [0, max / 2, max];
  const labelEvery = Math.ceil(days.length / 7);
  const total = values.reduce((a, b) => a + b, 0);
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": `${id}-title ${id}-desc`, id },
    svg("title", { id: `${id}-title` }, title),
    svg("desc", { id: `${id}-desc` }, `${days.length} days from ${days[0]?.day ?? ""} to ${days.at(-1)?.day ?? ""}; total ${format(total)}; highest day ${format(Math.max(0, ...values))}.`),
    ticks.map((t) => {
      const y = PAD.top + plotH - (t / max) * plotH;
      return svg(
        "g",
        { class: "tick" },
        svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
        svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, format(t)),
      );
    }),
    days.map((d, i) => {
      const v = values[i];
      const barH = (v / max) * plotH;
      const x = PAD.left + i * step + (step - barW) / 2;
      return svg(
        "g",
        { class: "bar", dataset: { day: d.day, value: String(v) } },
        svg("rect", { x, y: PAD.top + plotH - barH, width: barW, height: Math.max(0, barH) }, svg("title", {}, `${d.day}: ${format(v)}`)),
        i % labelEvery === 0 ? svg("text", { x: x + barW / 2, y: H - PAD.bottom + 16, "text-anchor": "middle", class: "axis" }, d.day.slice(5)) : null,
      );
    }),
  );
}

export async function render(ctx) {
  const days = RANGES.includes(Number(ctx.query.days)) ? Number(ctx.query.days) : 14;
  const range = h(
    "select",
    { name: "days" },
    RANGES.map((n) => h("option", { value: String(n), selected: n === days }, `Last ${n} days`)),
  );
  range.addEventListener("change", () => ctx.go("analytics", { days: range.value }));
  const daily = h("div", {}, loading());
  const top = h("div", {}, loading());
  replace(
    ctx.main,
    h("h1", {}, "Analytics"),
    h("form", { class: "filters", "aria-label": "Range", onsubmit: (e) => e.preventDefault() }, field("Range", range)),
    section("Orders and revenue per day", daily),
    section("Top products", top),
  );
  const from = day(days - 1);
  const to = day(0);
  const loadDaily = async () => {
    try {
      const data = await api("analytics/daily", { query: { from, to }, signal: ctx.signal });
      if (!ctx.active()) return;
      replace(
        daily,
        h("figure", {}, h("figcaption", {}, "Orders placed per day"),
          barChart("chart-orders", "Orders placed per day", data.items, (d) => d.orders, (v) => String(Math.round(v)))),
        h("figure", {}, h("figcaption", {}, "Revenue per day (completed orders)"),
          barChart("chart-revenue", "Revenue per day (completed orders)", data.items, (d) => d.revenueCents, (v) => cents(Math.round(v)), 1000)),
        h(
          "details",
          {},
          h("summary", {}, "The numbers"),
          table(
            "Orders and revenue per day",
            [
              { label: "Day", cell: (d) => d.day },
              { label: "Orders", class: "num", cell: (d) => String(d.orders) },
              { label: "Completed", class: "num", cell: (d) => String(d.completed) },
              { label: "Rejected", class: "num", cell: (d) => String(d.rejected) },
              { label: "Cancelled", class: "num", cell: (d) => String(d.cancelled) },
              { label: "Units", class: "num", cell: (d) => String(d.units) },
              { label: "Revenue", class: "num", cell: (d) => cents(d.revenueCents) },
            ],
            data.items,
          ),
        ),
      );
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError" && error.name !== "Unauthorized") replace(daily, failure(error, loadDaily));
    }
  };
  const loadTop = async () => {
    try {
      const data = await api("analytics/top-products", { query: { limit: 10 }, signal: ctx.signal });
      if (!ctx.active()) return;
      replace(
        top,
        table(
          "Top products by revenue",
          [
            { label: "SKU", cell: (p) => p.sku },
            { label: "Units sold", class: "num", cell: (p) => String(p.unitsSold) },
            { label: "Revenue", class: "num", cell: (p) => cents(p.revenueCents) },
            { label: "Orders", class: "num", cell: (p) => String(p.orders) },
          ],
          data.items,
          { empty: "Nothing sold yet.", rowKey: (p) => p.sku },
        ),
      );
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError" && error.name !== "Unauthorized") replace(top, failure(error, loadTop));
    }
  };
  await Promise.all([loadDaily(), loadTop()]);
}
