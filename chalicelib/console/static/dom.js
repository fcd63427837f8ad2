// Building the page: elements from data, every value as text (never HTML).

const SVG_NS = "http://www.w3.org/2000/svg";

function put(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function set(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" && "value" in el) el.value = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

// h("p", {class: "x"}, "text", child, ...): an HTML element.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  set(el, props);
  put(el, children);
  return el;
}

// An SVG element (charts).
export function svg(tag, props = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  set(el, props);
  put(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  put(el, children);
  return el;
}

const money = new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function cents(value) {
  return typeof value === "number" ? money.format(value / 100) : "–";
}

// An ISO time as "YYYY-MM-DD HH:MM:SS" (UTC), or the text as it came.
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function ageText(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(Number(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

export function json(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export const TERMINAL = new Set(["COMPLETED", "REJECTED", "CANCELLED"]);
export const ORDER_STATUSES = [
  "PLACED",
  "RESERVED",
  "PAID",
  "SHIPPED",
  "COMPLETED",
  "REJECTED",
  "CANCELLING",
  "CANCELLED",
];

export function badge(status) {
  return h("span", { class: `badge badge-${String(status).toLowerCase()}` }, String(status));
}

// A table: columns [{label, cell(row) -> node or text, class?}], one row per item.
export function table(caption, columns, rows, { empty = "Nothing here yet.", rowKey } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = rows.map((row) =>
    h(
      "tr",
      rowKey ? { dataset: { key: rowKey(row) } } : {},
      columns.map((c) => h("td", { class: c.class, dataset: { label: c.label } }, c.cell(row))),
    ),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h("table", {}, h("caption", { class: "visually-hidden" }, caption), h("thead", {}, head), h("tbody", {}, body)),
  );
}

// A definition list of [term, value] pairs.
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

export function loading(what = "Loading…") {
  return h("p", { class: "loading", role: "status" }, what);
}

// An error in place of what could not load, with a way to try again.
export function failure(error, retry) {
  const status = error && error.status ? ` (HTTP ${error.status})` : "";
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, `${error && error.message ? error.message : String(error)}${status}`),
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null,
  );
}

// A labelled form control: <label for> + control + the place its error goes.
let ids = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, dataset: { field: control.name || "" } });
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error,
  );
}

// Shows the API's field errors next to the fields they name (by the last part
// of each error's loc), and the rest in the form's own error place.
export function showErrors(form, error) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) general.textContent = "";
  if (!error) return;
  let placed = false;
  for (const item of error.fieldErrors || []) {
    const name = [...item.loc].reverse().find((p) => typeof p === "string");
    const control = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
    const slot = control ? form.querySelector(`#${CSS.escape(control.id)}-error`) : null;
    if (control && slot) {
      slot.textContent = slot.textContent ? `${slot.textContent}; ${item.msg}` : String(item.msg);
      control.setAttribute("aria-invalid", "true");
      placed = true;
    }
  }
  if (general && (!placed || !(error.fieldErrors || []).length)) {
    general.textContent = error.message || String(error);
  }
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}
