// Catalog: products with stock, threshold, a low-stock mark and the primary
// image; restock, edit and new-product forms (the API's field errors next to
// their fields); a CSV import with its per-line errors.

import { api, ApiError, postToS3 } from "./api.js";
import { cents, facts, failure, field, h, loading, replace, section, showErrors, table, when } from "./dom.js";

const IMPORT_POLL_MS = 500;
const IMPORT_POLLS = 240;

function input(name, props = {}) {
  return h("input", { name, autocomplete: "off", ...props });
}

function numberOrText(value) {
  const text = String(value).trim();
  return text !== "" && /^-?\d+$/.test(text) ? Number(text) : text;
}

function thumbnail(p) {
  const thumbs = (p.image && p.image.thumbnails) || {};
  const size = ["200", "512", "1024"].find((s) => thumbs[s]);
  return size ? h("img", { src: thumbs[size], alt: `Photo of ${p.name}`, class: "thumb", width: 64, height: 64 }) : "–";
}

function productForm(ctx, { title, product, onDone }) {
  const creating = !product;
  const sku = input("sku", { value: product ? product.sku : "", readonly: !creating });
  const name = input("name", { value: product ? product.name : "" });
  const price = input("priceCents", { inputmode: "numeric", value: product ? product.priceCents : "" });
  const threshold = input("lowStockThreshold", { inputmode: "numeric", value: product ? product.lowStockThreshold : "0" });
  const stock = creating ? input("stock", { inputmode: "numeric", value: "0" }) : null;
  const form = h(
    "form",
    { class: "card form", "aria-label": title, novalidate: true },
    h("h2", {}, title),
    field("SKU", sku, creating ? "Letters, digits and dashes, at most 64." : null),
    field("Name", name),
    field("Price (cents)", price),
    creating ? field("Initial stock", stock) : null,
    field("Low-stock threshold", threshold),
    h("p", { class: "form-error", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, creating ? "Create product" : "Save"), h("button", { type: "button", class: "quiet", onclick: () => onDone(null) }, "Close")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(form, null);
    const body = {
      name: name.value,
      priceCents: numberOrText(price.value),
      lowStockThreshold: numberOrText(threshold.value),
    };
    if (creating) body.stock = numberOrText(stock.value);
    if (!sku.value.trim()) {
      showErrors(form, new ApiError(400, "A SKU is required.", { Errors: [{ loc: ["sku"], msg: "a SKU is required" }] }));
      return;
    }
    try {
      const saved = await api(`products/${encodeURIComponent(sku.value.trim())}`, { method: "PUT", body, signal: ctx.signal });
      ctx.flash(`Saved ${saved.sku}.`);
      onDone(saved);
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError" && error.name !== "Unauthorized") showErrors(form, error);
    }
  });
  return form;
}

function restockForm(ctx, product, onDone) {
  const quantity = input("quantity", { inputmode: "numeric" });
  const form = h(
    "form",
    { class: "card form", "aria-label": `Restock ${product.sku}`, novalidate: true },
    h("h2", {}, `Restock ${product.sku}`),
    h("p", {}, `${product.name}: ${product.stock} in stock.`),
    field("Units to add", quantity),
    h("p", { class: "form-error", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Restock"), h("button", { type: "button", class: "quiet", onclick: () => onDone(null) }, "Close")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(form, null);
    try {
      const saved = await api(`products/${encodeURIComponent(product.sku)}/restock`, {
        method: "POST",
        body: { quantity: numberOrText(quantity.value) },
        signal: ctx.signal,
      });
      ctx.flash(`${saved.sku} has ${saved.stock} in stock.`);
      onDone(saved);
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError" && error.name !== "Unauthorized") showErrors(form, error);
    }
  });
  return form;
}

function importResult(result) {
  const pairs = [
    ["Import", result.importId],
    ["Status", result.status],
    ["Created", String(result.created ?? 0)],
    ["Updated", String(result.updated ?? 0)],
    ["Errors", String(result.errorCount ?? 0)],
  ];
  if (result.reason) pairs.push(["Reason", result.reason]);
  return [
    facts(pairs),
    result.errors && result.errors.length
      ? table(
          "The import's errors, by line",
          [
            { label: "Line", class: "num", cell: (e) => String(e.line) },
            { label: "Error", cell: (e) => e.message },
          ],
          result.errors,
          { rowKey: (e) => String(e.line) },
        )
      : null,
  ];
}

function importForm(ctx, reload) {
  const file = h("input", { name: "file", type: "file", accept: ".csv,text/csv" });
  const out = h("div", { class: "import-result", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Import");
  const form = h(
    "form",
    { class: "import", "aria-label": "Import products from a CSV file", novalidate: true },
    field("CSV file", file, "Header: sku,name,priceCents,stock,lowStockThreshold (stock for new products only)."),
    h("p", { class: "form-error", role: "alert" }),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(form, null);
    const chosen = file.files && file.files[0];
    if (!chosen) {
      showErrors(form, new ApiError(400, "Choose a CSV file first.", { Errors: [{ loc: ["file"], msg: "choose a CSV file first" }] }));
      return;
    }
    button.disabled = true;
    replace(out, loading("Uploading…"));
    try {
      const slot = await api("catalog/imports", { method: "POST", signal: ctx.signal });
      await postToS3(slot.upload, chosen, null);
      replace(out, loading("Applying the file…"));
      let result = null;
      for (let i = 0; i < IMPORT_POLLS && ctx.active(); i++) {
        result = await api(`catalog/imports/${encodeURIComponent(slot.importId)}`, { signal: ctx.signal });
        if (result.status !== "PENDING") break;
        await new Promise((resolve) => setTimeout(resolve, IMPORT_POLL_MS));
      }
      if (!ctx.active()) return;
      replace(out, importResult(result));
      if (result.status === "PENDING") out.append(h("p", { class: "hint" }, "Still pending: look again later."));
      reload();
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      replace(out, failure(error));
    } finally {
      button.disabled = false;
    }
  });
  return h("div", {}, form, out);
}

export async function render(ctx) {
  const cursor = ctx.query.cursor;
  const panel = h("div", { class: "panel" });
  const list = h("div", {}, loading());
  const pager = h("nav", { class: "pager", "aria-label": "Pages of products" });
  let products = [];

  const close = (saved) => {
    replace(panel);
    if (saved) load();
  };
  const open = (form) => {
    replace(panel, form);
    const first = form.querySelector("input:not([readonly])");
    if (first) first.focus();
  };

  const load = async () => {
    let page;
    try {
      page = await api("products", { query: { limit: 50, cursor }, signal: ctx.signal, auth: false });
    } catch (error) {
      if (ctx.active() && error.name !== "AbortError") replace(list, failure(error, load));
      return;
    }
    if (!ctx.active()) return;
    products = page.items;
    replace(
      list,
      table(
        "Products",
        [
          { label: "SKU", cell: (p) => h("span", { class: "mono" }, p.sku) },
          { label: "Name", cell: (p) => h("span", { class: "product-name" }, p.name) },
          { label: "Price", class: "num", cell: (p) => cents(p.priceCents) },
          { label: "Stock", class: "num", cell: (p) => String(p.stock) },
          { label: "Threshold", class: "num", cell: (p) => String(p.lowStockThreshold) },
          { label: "Low", cell: (p) => (p.stock < p.lowStockThreshold ? h("span", { class: "badge badge-low" }, "Low stock") : "no") },
          { label: "Photo", cell: (p) => thumbnail(p) },
          { label: "Updated", cell: (p) => when(p.updatedAt) },
          {
            label: "Actions",
            cell: (p) =>
              h(
                "div",
                { class: "row-actions" },
                h("button", { type: "button", "aria-label": `Restock ${p.sku}`, onclick: () => open(restockForm(ctx, p, close)) }, "Restock"),
                h("button", { type: "button", "aria-label": `Edit ${p.sku}`, onclick: () => open(productForm(ctx, { title: `Edit ${p.sku}`, product: p, onDone: close })) }, "Edit"),
                h("a", { href: ctx.link("images", { sku: p.sku }), "aria-label": `Images of ${p.sku}` }, "Images"),
              ),
          },
        ],
        products,
        { empty: "No products yet.", rowKey: (p) => p.sku },
      ),
    );
    replace(
      pager,
      cursor ? h("a", { href: ctx.link("catalog") }, "First page") : null,
      page.nextCursor ? h("a", { href: ctx.link("catalog", { cursor: page.nextCursor }), rel: "next" }, "Next page") : null,
    );
  };

  replace(
    ctx.main,
    h("h1", {}, "Catalog"),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => open(productForm(ctx, { title: "New product", onDone: close })) }, "New product"),
    ),
    panel,
    section("Import a CSV", importForm(ctx, load)),
    section("Products", list, pager),
  );
  await load();
}
