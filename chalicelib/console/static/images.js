// Images: a product's photos with status, thumbnails, failure reason and EXIF
// (admins see it all: GET /images/{id}); upload a photo through the presigned
// POST and watch it become READY (or FAILED, with why).

import { allPages, api, postToS3 } from "./api.js";
import { badge, facts, failure, field, h, loading, replace, section } from "./dom.js";

const POLL_MS = 1000;
const UPLOADS_KEY = "eventshop.console.uploads";

// The images uploaded from this tab, by sku (so a PENDING or FAILED one,
// which no listing returns, stays on screen).
function uploads(sku) {
  try {
    const all = JSON.parse(window.sessionStorage.getItem(UPLOADS_KEY) || "{}");
    return Array.isArray(all[sku]) ? all[sku] : [];
  } catch {
    return [];
  }
}

function remember(sku, imageId) {
  let all = {};
  try {
    all = JSON.parse(window.sessionStorage.getItem(UPLOADS_KEY) || "{}") || {};
  } catch {
    all = {};
  }
  all[sku] = [imageId, ...(Array.isArray(all[sku]) ? all[sku] : []).filter((i) => i !== imageId)].slice(0, 20);
  window.sessionStorage.setItem(UPLOADS_KEY, JSON.stringify(all));
}

function card(image) {
  const thumbs = image.thumbnails || {};
  const sizes = Object.keys(thumbs).sort((a, b) => Number(a) - Number(b));
  const exif = image.exif || null;
  const gps = exif && exif.gps ? `${exif.gps.lat}, ${exif.gps.lon}` : "–";
  return h(
    "article",
    { class: "card image-card", dataset: { imageId: image.imageId, status: image.status } },
    h("h3", { class: "mono" }, image.imageId),
    h("p", {}, badge(image.status)),
    thumbs["200"] ? h("img", { src: thumbs["200"], alt: `200 px thumbnail of image ${image.imageId}`, class: "thumb-200" }) : null,
    facts([
      ["Reason", image.reason ?? "–"],
      ["Size", image.width ? `${image.width} × ${image.height} px` : "–"],
      ["Format", image.format ?? "–"],
      ["Bytes", image.bytes === null || image.bytes === undefined ? "–" : String(image.bytes)],
      ["Thumbnails", sizes.length ? sizes.map((s, i) => [i ? ", " : "", h("a", { href: thumbs[s], rel: "noreferrer" }, `${s} px`)]) : "–"],
      ["Camera", exif ? [exif.make, exif.model].filter(Boolean).join(" ") || "–" : "–"],
      ["Taken", exif && exif.takenAt ? String(exif.takenAt) : "–"],
      ["Orientation", exif && exif.orientation ? String(exif.orientation) : "–"],
      ["GPS", gps],
      ["Uploaded", image.createdAt ?? "–"],
    ]),
  );
}

function productPicker(ctx, products, sku) {
  const select = h(
    "select",
    { name: "sku" },
    h("option", { value: "" }, "Choose a product"),
    products.map((p) => h("option", { value: p.sku, selected: p.sku === sku }, `${p.sku} · ${p.name}`)),
  );
  const form = h("form", { class: "filters", "aria-label": "Choose a product" }, field("Product", select), h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go("images", { sku: select.value });
  });
  select.addEventListener("change", () => ctx.go("images", { sku: select.value }));
  return form;
}

function uploadForm(ctx, sku, after) {
  const file = h("input", { name: "file", type: "file", accept: "image/*" });
  const button = h("button", { type: "submit" }, "Upload");
  const form = h(
    "form",
    { class: "upload", "aria-label": `Upload a photo of ${sku}`, novalidate: true },
    field("Photo", file, "JPEG, PNG, WebP, GIF or TIFF, up to 20 MB."),
    h("p", { class: "form-error", role: "alert" }),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".form-error");
    error.textContent = "";
    const chosen = file.files && file.files[0];
    if (!chosen) {
      error.textContent = "Choose a photo first.";
      file.focus();
      return;
    }
    button.disabled = true;
    try {
      const slot = await api(`products/${encodeURIComponent(sku)}/images`, { method: "POST", signal: ctx.signal });
      remember(sku, slot.imageId);
      await postToS3(slot.upload, chosen, chosen.type || "application/octet-stream");
      ctx.flash(`Uploaded ${chosen.name} as image ${slot.imageId}: processing…`);
      form.reset();
      after();
    } catch (failed) {
      if (ctx.active() && failed.name !== "AbortError" && failed.name !== "Unauthorized") {
        error.textContent = failed.message;
      }
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function render(ctx) {
  const sku = ctx.query.sku || "";
  const { items: products } = await allPages("products", { signal: ctx.signal, auth: false });
  if (!ctx.active()) return;
  const gallery = h("div", { class: "gallery", "aria-live": "polite" });
  const problem = h("div", {});
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));

  const load = async () => {
    clearTimeout(timer);
    timer = null;
    let shown;
    try {
      const [ready, alerts] = await Promise.all([
        api(`products/${encodeURIComponent(sku)}/images`, { signal: ctx.signal, auth: false }),
        api("ops/alerts", { query: { limit: 100 }, signal: ctx.signal }),
      ]);
      const failed = alerts.items
        .filter((a) => a.kind === "IMAGE_FAILED" && a.data && a.data.sku === sku && a.data.imageId)
        .map((a) => a.data.imageId);
      const ids = [...new Set([...uploads(sku), ...ready.items.map((i) => i.imageId), ...failed])];
      shown = await Promise.all(ids.map((id) => api(`images/${encodeURIComponent(id)}`, { signal: ctx.signal })));
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      replace(problem, failure(error, load));
      return;
    }
    if (!ctx.active()) return;
    replace(problem);
    replace(gallery, shown.length ? shown.map(card) : h("p", { class: "empty" }, "No images of this product yet."));
    if (shown.some((i) => i.status === "PENDING")) timer = setTimeout(load, POLL_MS);
  };

  const product = products.find((p) => p.sku === sku);
  replace(
    ctx.main,
    h("h1", {}, "Images"),
    productPicker(ctx, products, sku),
    sku && !product ? h("p", { class: "error", role: "alert" }, `There is no product ${sku}.`) : null,
    product ? section(`Upload a photo of ${sku}`, uploadForm(ctx, sku, load)) : null,
    product ? section(`Images of ${sku}`, problem, gallery) : null,
  );
  if (product) {
    replace(gallery, loading());
    await load();
  }
}
