// The page's only way to the server: GET requests to the JSON endpoints of `tfrec serve`.
// A refused request shows the API's own error message ({"error": ...}), never a blank page.

import { fill, h } from "./dom.js";

export class ApiError extends Error {
  constructor(status, message, url) {
    super(message);
    this.status = status;
    this.url = url;
  }
}

/** The URL of an endpoint with the parameters that are set (empty values are left out). */
export function apiUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && String(value) !== "") {
      url.searchParams.set(key, String(value));
    }
  }
  return url;
}

async function request(path, params) {
  const url = apiUrl(path, params);
  let response;
  try {
    // same-origin: the browser sends the credentials it was given for /ui (the API key)
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message}); is tfrec serve running?`, url);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === "string") message = body.error;
    } catch {
      if (text) message += `: ${text.slice(0, 300)}`;
    }
    throw new ApiError(response.status, message, url);
  }
  return { text, url };
}

/** GET a JSON endpoint; resolves to {body, url}, rejects with an ApiError. */
export async function getJSON(path, params = {}) {
  const { text, url } = await request(path, params);
  return { body: JSON.parse(text), url };
}

/** GET a text endpoint (/metrics). */
export async function getText(path) {
  return (await request(path, {})).text;
}

/** Show an error in `box` (a role="alert" element): the status and the API's message. */
export function showError(box, err) {
  const status = err instanceof ApiError && err.status ? `${err.status} ` : "";
  const where = err instanceof ApiError && err.url ? ` (GET ${err.url.pathname}${err.url.search})` : "";
  fill(
    box,
    h("p", {}, h("strong", {}, `${status}Request refused: `), h("span", { class: "error-message" }, err.message)),
    where ? h("p", { class: "muted" }, where) : null,
  );
}

export function clearError(box) {
  fill(box);
}

/** A link to the raw JSON answer, for people who want to see the fields. */
export function jsonLink(url) {
  return h("a", { href: url.href, class: "json-link", target: "_blank", rel: "noopener" }, "raw JSON");
}
