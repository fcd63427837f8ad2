// The console's shell: the token prompt, the hash routes, the navigation.

import { api, ApiError, claims, clearToken, setToken, token, Unauthorized, whenUnauthorized } from "./api.js";
import { failure, field, h, loading, replace } from "./dom.js";
import * as alerts from "./alerts.js";
import * as analytics from "./analytics.js";
import * as catalog from "./catalog.js";
import * as deadLetters from "./deadletters.js";
import * as images from "./images.js";
import * as order from "./order.js";
import * as orders from "./orders.js";
import * as overview from "./overview.js";

// "#/orders/abc?status=PAID" -> page "order" with params and query.
const ROUTES = [
  [/^overview$/, "overview", overview, "Overview"],
  [/^orders$/, "orders", orders, "Orders"],
  [/^orders\/([^/]+)$/, "orders", order, "Order", ["orderId"]],
  [/^catalog$/, "catalog", catalog, "Catalog"],
  [/^images$/, "images", images, "Images"],
  [/^dead-letters$/, "dead-letters", deadLetters, "Dead letters"],
  [/^dead-letters\/([^/]+)$/, "dead-letters", deadLetters, "Dead letters", ["queue"]],
  [/^alerts$/, "alerts", alerts, "Alerts"],
  [/^analytics$/, "analytics", analytics, "Analytics"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const flashBox = document.getElementById("flash");
let current = null; // {controller, leave: [fn]}
let promptMessage = "";

export function flash(message, kind = "info") {
  replace(flashBox, message ? h("p", { class: `flash-${kind}` }, message) : null);
}

function parse(hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const query = Object.fromEntries(new URLSearchParams(search));
  for (const [pattern, nav, module, title, names = []] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      const params = {};
      names.forEach((name, i) => {
        params[name] = decodeURIComponent(match[i + 1]);
      });
      return { nav, module, title, params, query };
    }
  }
  return null;
}

// "#/orders" + {status: "PAID"} -> "#/orders?status=PAID" (empty values left out).
export function link(path, query = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(path, query) {
  const target = link(path, query);
  if (window.location.hash === target) route();
  else window.location.hash = target;
}

function leave() {
  if (!current) return;
  current.controller.abort();
  for (const fn of current.leave) {
    try {
      fn();
    } catch {
      // a page's clean-up must not stop the next page
    }
  }
  current = null;
}

function showWho() {
  const c = claims(token());
  if (!c) {
    who.hidden = true;
    return;
  }
  const expires = typeof c.exp === "number" ? new Date(c.exp * 1000).toISOString().slice(11, 16) : "?";
  document.getElementById("who-text").textContent = `${c.sub ?? "?"} (${c.role ?? "?"}), until ${expires} UTC`;
  who.hidden = false;
}

function markNav(page) {
  for (const a of nav.querySelectorAll("a[data-page]")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  leave();
  if (!token()) {
    prompt();
    return;
  }
  const target = parse(window.location.hash || "#/overview");
  if (!target) {
    window.location.replace("#/overview");
    return;
  }
  nav.hidden = false;
  showWho();
  markNav(target.nav);
  document.title = `${target.title} · eventshop console`;
  const controller = new AbortController();
  const mine = { controller, leave: [] };
  current = mine;
  replace(main, loading());
  const ctx = {
    main,
    params: target.params,
    query: target.query,
    signal: controller.signal,
    onLeave: (fn) => mine.leave.push(fn),
    active: () => current === mine && !controller.signal.aborted,
    go,
    link,
    flash,
  };
  try {
    await target.module.render(ctx);
  } catch (error) {
    if (!ctx.active() || error instanceof Unauthorized || (error && error.name === "AbortError")) return;
    replace(main, h("h1", {}, target.title), failure(error, () => route()));
  }
}

function prompt() {
  nav.hidden = true;
  who.hidden = true;
  markNav(null);
  document.title = "Sign in · eventshop console";
  const input = h("input", {
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const error = h("p", { class: "form-error", role: "alert" }, promptMessage);
  const form = h(
    "form",
    { class: "card prompt", "aria-labelledby": "prompt-title" },
    h("h1", { id: "prompt-title" }, "Sign in with an admin token"),
    h(
      "p",
      {},
      "Paste an admin's JWT. It is kept in this tab only (sessionStorage) and sent to the API as a bearer token. ",
      "Locally: ",
      h("code", {}, "make token ROLE=admin SUB=ops-1"),
      ".",
    ),
    field("Admin token", input),
    error,
    h("button", { type: "submit" }, "Open the console"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    const c = claims(value);
    if (!c) {
      error.textContent = "That is not a JWT (three dot-separated parts).";
      input.focus();
      return;
    }
    if (c.role !== "admin") {
      error.textContent = `This token's role is ${JSON.stringify(c.role ?? null)}: the console needs an admin's.`;
      input.focus();
      return;
    }
    error.textContent = "Checking the token…";
    setToken(value);
    try {
      await api("ops/alerts", { query: { limit: 1 } });
    } catch (failed) {
      clearToken();
      if (!(failed instanceof Unauthorized)) {
        error.textContent =
          failed instanceof ApiError && failed.status === 403
            ? "The API refused this token's role (403)."
            : `The API could not check the token: ${failed.message}`;
      }
      input.focus();
      return;
    }
    promptMessage = "";
    flash("");
    route();
  });
  replace(main, form);
  input.focus();
}

whenUnauthorized(() => {
  promptMessage = "Your token expired or was refused (401): paste a new one.";
  leave();
  prompt();
});

document.getElementById("sign-out").addEventListener("click", () => {
  clearToken();
  promptMessage = "Signed out.";
  leave();
  prompt();
});

window.addEventListener("hashchange", () => route());
route();
