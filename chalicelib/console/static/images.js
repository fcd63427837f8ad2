// Images: every photo of a product with its status (PENDING, READY, FAILED),
// the failure reason, the thumbnails and the EXIF (GET
// /products/{sku}/images?status=ALL, an admin's listing: what GET
// /images/{id} gives, for each); upload a photo through the presigned POST and
// watch it become READY (or FAILED, with why).

import { allPages, api, postToS3 } from "./api.js";
import { badge, facts, failure, field, h, loading, replace, section } from "./dom.js";

const POLL_MS = 1000;
// How long an upload from this page is watched for its outcome (its slot's
// presigned POST lasts 15 minutes; processing takes seconds).
const WATCH_MS = 5 * 60 * 1000;

function exifDetails(image) {
  const exif = image.exif || null;
  if (!exif) return h("p", { class: "hint" }, image.status === "READY" ? "No EXIF." : "EXIF: –");
  const gps = exif.gps ? `${exif.gps.lat}, ${exif.gps.lon}` : "–";
  return h(
    "details",
    { class: "exif" },
    h("summary", {}, "EXIF"),
    facts([
      ["Camera", [exif.make, exif.model].filter(Boolean).join(" ") || "–"],
      ["Taken", exif.takenAt ? String(exif.takenAt) : "–"],
      ["Orientation", exif.orientation ? String(exif.orientation) : "–"],
      ["GPS", gps],
    ]),
  );
}

function card(image) {
  const thumbs = image.thumbnails || {};
  const sizes = Object.keys(thumbs).sort((a, b) => Number(a) - Number(b));
  return h(
    "article",
    { class: "card image-card", dataset: { imageId: image.imageId, status: image.status } },
    h("h3", { class: "mono" }, image.imageId),
    h("p", {}, badge(image.status), image.deletedAt ? [" ", badge("removed")] : null),
    image.status === "FAILED" ? h("p", { class: "error image-reason" }, `Failed: ${image.reason ?? "no reason given"}`) : null,
    thumbs["200"] ? h("img", { src: thumbs["200"], alt: `200 px thumbnail of image ${image.imageId}`, class: "thumb-200" }) : null,
    facts([
      ["Size", image.width ? `${image.width} × ${image.height} px` : "–"],
      ["Format", image.format ?? "–"],
      ["Bytes", image.bytes === null || image.bytes === undefined ? "–" : String(image.bytes)],
      ["Thumbnails", sizes.length ? sizes.map((s, i) => [i ? ", " : "", h("a", { href: thumbs[s], rel: "noreferrer" }, `${s} px`)]) : "–"],
      ["Uploaded", image.createdAt ?? "–"],
      ["Updated", image.updatedAt ?? "–"],
      ...(image.deletedAt ? [["Removed", image.deletedAt]] : []),
    ]),
    exifDetails(image),
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
      await postToS3(slot.upload, chosen, chosen.type || "application/octet-stream");
      ctx.flash(`Uploaded ${chosen.name} as image ${slot.imageId}: processing…`);
      form.reset();
      after(slot.imageId);
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

  // Uploads from this page, watched (polled) until they are READY or FAILED.
  const watched = new Map();
  const load = async () => {
    clearTimeout(timer);
    timer = null;
    let listed;
    try {
      listed = await api(`products/${encodeURIComponent(sku)}/images`, { query: { status: "ALL" }, signal: ctx.signal });
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      replace(problem, failure(error, load));
      return;
    }
    if (!ctx.active()) return;
    const shown = [...listed.items].reverse(); // newest first
    replace(problem);
    replace(gallery, shown.length ? shown.map(card) : h("p", { class: "empty" }, "No images of this product yet."));
    const status = new Map(shown.map((i) => [i.imageId, i.status]));
    const now = Date.now();
    for (const [id, since] of watched) {
      const state = status.get(id);
      if ((state && state !== "PENDING") || now - since > WATCH_MS) watched.delete(id);
    }
    if (watched.size) timer = setTimeout(load, POLL_MS);
  };
  const uploaded = (imageId) => {
    watched.set(imageId, Date.now());
    return load();
  };

  const product = products.find((p) => p.sku === sku);
  replace(
    ctx.main,
    h("h1", {}, "Images"),
    productPicker(ctx, products, sku),
    sku && !product ? h("p", { class: "error", role: "alert" }, `There is no product ${sku}.`) : null,
    product ? section(`Upload a photo of ${sku}`, uploadForm(ctx, sku, uploaded)) : null,
    product ? section(`Images of ${sku}`, problem, gallery) : null,
  );
  if (product) {
    replace(gallery, loading());
    await load();
  }
}
