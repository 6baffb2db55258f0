// Shared by the studio's pages: the API key, calls to this server's REST API, messages in the page.

const KEY_STORE = "imagelens.studio.key";
export const V40 = "2024-02-01";
export const V_PREVIEW = "2023-02-01-preview";
export const V_INDEX = "2023-05-01-preview";

export const $ = (id) => document.getElementById(id);

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY_STORE, value);
  else sessionStorage.removeItem(KEY_STORE);
}

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Call the REST API. `body`: a Blob/File (sent as octet-stream), a string or an object (sent as JSON).
 * Answers the parsed JSON, or the Blob when `binary` is set; throws ApiError with the server's message. */
export async function api(path, { method = "GET", body, binary = false } = {}) {
  const headers = {};
  const key = apiKey();
  if (key) headers["Ocp-Apim-Subscription-Key"] = key;
  let payload = body;
  if (body instanceof Blob) {
    headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (typeof body === "string") {
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(`The server could not be reached (${err.message}).`, 0, "NetworkError");
  }
  if (!response.ok) {
    let message = `The server answered ${response.status} ${response.statusText}.`;
    let code = "";
    try {
      const data = await response.json();
      const inner = (data.error && data.error.innererror) || {};
      code = inner.code || (data.error && data.error.code) || "";
      if (data.error && data.error.message) message = data.error.message;
    } catch (_) { /* not JSON: keep the status line */ }
    if (response.status === 401) {
      message = "The server needs a valid API key: enter it in 'API key' at the top of the page. " + message;
    }
    throw new ApiError(message, response.status, code);
  }
  if (binary) return response.blob();
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

export function clearError() {
  showError("");
}

export function setStatus(message) {
  $("status").textContent = message;
}

/** Run an async action; any error becomes a message in the page, never a blank page. */
export async function guarded(action, busy) {
  clearError();
  if (busy) setStatus(busy);
  try {
    const result = await action();
    if (busy && $("status").textContent === busy) setStatus(""); // keep a message the action left
    return result;
  } catch (err) {
    setStatus("");
    showError(err instanceof ApiError ? err.message : `Something went wrong: ${err.message || err}`);
    return undefined;
  }
}

export function formatBytes(n) {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

export function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    return false; // no clipboard permission (headless, http): the text stays selectable in the page
  }
}

let info = null;
export async function serverInfo() {
  if (!info) info = await api("/studio/api/info");
  return info;
}
export function forgetInfo() {
  info = null;
}
