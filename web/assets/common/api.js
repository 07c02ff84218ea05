// Fetching JSON from the service that served the page, with errors shown in one banner.

const banner = () => document.getElementById("banner");

/** Show `message` in the page's error banner (or clear it with null). */
export function showError(message) {
  const b = banner();
  if (!b) return;
  b.textContent = message ?? "";
  b.classList.toggle("shown", Boolean(message));
}

/** GET `path` as JSON; throws an Error whose message says what failed. */
export async function getJson(path, { timeoutMs = 10000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let resp;
  try {
    resp = await fetch(path, { signal: ctl.signal, headers: { Accept: "application/json" } });
  } catch (e) {
    throw new Error(e.name === "AbortError"
      ? `${path}: no answer within ${timeoutMs / 1000} s`
      : `${path}: cannot reach the server (${e.message})`);
  } finally {
    clearTimeout(timer);
  }
  const text = await resp.text();
  if (!resp.ok) {
    let why = text.slice(0, 200);
    try { why = JSON.parse(text).message ?? why; } catch (_) { /* plain text */ }
    throw new Error(`${path}: ${resp.status} ${resp.statusText}${why ? ` - ${why}` : ""}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: the answer is not JSON`);
  }
}

/**
 * Call `load` now and every `intervalMs`, handing its result to `render`; failures go to
 * the banner and are retried on the next tick. Returns a function that stops it.
 */
export function poll(load, render, intervalMs) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      const value = await load();
      if (stopped) return;
      showError(null);
      render(value);
    } catch (e) {
      if (!stopped) showError(e.message);
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** An API call that was answered with an error status: `status`, `message`, `details`. */
export class ApiError extends Error {
  constructor(status, body, path) {
    const message = body && typeof body === "object" && body.message
      ? body.message
      : typeof body === "string" && body ? body.slice(0, 300) : `${path}: ${status}`;
    super(message);
    this.status = status;
    this.body = body;
    this.details = (body && body.details) || [];
  }
}

/**
 * `method` `path` with an optional JSON body. Resolves to {status, body, headers}; a 4xx/5xx
 * answer throws an ApiError (its `details` are Marathon's 422 field errors), a network
 * failure an Error saying so.
 */
export async function send(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: body === undefined ? { Accept: "application/json" }
        : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`${method} ${path}: cannot reach the server (${e.message})`);
  }
  const text = await resp.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { /* not JSON: keep the text */ }
  if (!resp.ok) throw new ApiError(resp.status, parsed, path);
  return { status: resp.status, body: parsed, headers: resp.headers };
}
