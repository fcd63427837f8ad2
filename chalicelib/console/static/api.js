// The API, as the console calls it: same origin, relative to the page, so the
// same files work at http://127.0.0.1:8000/console and at
// https://<api>.execute-api.<region>.amazonaws.com/<stage>/console.

const TOKEN_KEY = "eventshop.console.token";

// The API's root: the folder the page is in ("/" locally, "/<stage>/" on AWS).
export const API_ROOT = new URL(".", window.location.href);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  // [{loc: [...], msg}] of a validation error (400), else [].
  get fieldErrors() {
    const errors = this.body && Array.isArray(this.body.Errors) ? this.body.Errors : [];
    return errors.filter((e) => e && Array.isArray(e.loc));
  }
}

export class Unauthorized extends ApiError {
  constructor(message, body) {
    super(401, message, body);
    this.name = "Unauthorized";
  }
}

export function token() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  window.sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

// The token's claims, read (not verified: the API verifies it), or null.
export function claims(jwt) {
  const parts = String(jwt || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const value = JSON.parse(window.atob(padded));
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

let onUnauthorized = () => {};

// Called with the error whenever the API answers 401 (the token is dropped).
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export function url(path, query = {}) {
  const target = new URL(path.replace(/^\/+/, ""), API_ROOT);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") {
      target.searchParams.set(key, String(value));
    }
  }
  return target;
}

function messageOf(status, body, fallback) {
  if (body && typeof body === "object") {
    if (typeof body.Message === "string") return body.Message;
    if (typeof body.message === "string") return body.message;
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  return fallback || `HTTP ${status}`;
}

// One call of the API: JSON in and out. Resolves to the parsed body (null for
// 204); rejects with ApiError (Unauthorized for a 401, after which the
// console asks for a token again).
export async function api(path, { method = "GET", body, query, signal, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const jwt = token();
  if (auth && jwt) headers.Authorization = `Bearer ${jwt}`;
  let response;
  try {
    response = await fetch(url(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, `The API did not answer (${error && error.message ? error.message : error})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (response.status === 401 && auth) {
    clearToken();
    const error = new Unauthorized(messageOf(401, data, "Unauthorized"), data);
    onUnauthorized(error);
    throw error;
  }
  if (!response.ok) {
    throw new ApiError(response.status, messageOf(response.status, data, response.statusText), data);
  }
  return data;
}

// Whether the page is served by a local stack (make run): only then does it
// ask for the stack's own routes (/_devstack/...), which AWS does not have.
export function isLocal() {
  const host = window.location.hostname;
  return host === "127.0.0.1" || host === "localhost" || host === "[::1]" || host.endsWith(".localhost");
}

// GET of a local-stack route: its body, or null when there is none (on AWS,
// or a stack without it).
export async function local(path, { signal } = {}) {
  if (!isLocal()) return null;
  try {
    return await api(path, { signal, auth: false });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    return null;
  }
}

// The presigned S3 POST of an upload slot ({url, fields}), with one file.
// Sent without CORS (S3 needs no CORS rule for it): the answer is opaque,
// and what became of the file is read from the API afterwards.
export async function postToS3(upload, file, contentType) {
  const form = new FormData();
  for (const [key, value] of Object.entries(upload.fields || {})) form.append(key, value);
  if (contentType) form.append("Content-Type", contentType);
  form.append("file", file);
  try {
    await fetch(upload.url, { method: "POST", body: form, mode: "no-cors", credentials: "omit" });
  } catch (error) {
    throw new ApiError(0, `The upload did not reach storage (${error && error.message ? error.message : error})`);
  }
}

// Every item of a paged listing, up to ``pages`` pages of 100: {items, complete}.
export async function allPages(path, { signal, auth = true, pages = 5 } = {}) {
  const items = [];
  let cursor = null;
  for (let n = 0; n < pages; n++) {
    const page = await api(path, { query: { limit: 100, cursor }, signal, auth });
    items.push(...page.items);
    if (!page.nextCursor) return { items, complete: true };
    cursor = page.nextCursor;
  }
  return { items, complete: false };
}
