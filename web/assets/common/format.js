// Formatting of resources, times and states, shared by the UIs.

/** Megabytes as "512 MB", "1.5 GB", "2 TB". */
export function mb(value) {
  const v = Number(value) || 0;
  if (v >= 1024 * 1024) return `${round(v / (1024 * 1024))} TB`;
  if (v >= 1024) return `${round(v / 1024)} GB`;
  return `${round(v)} MB`;
}

/** A cpu count with at most 3 decimals. */
export function cpus(value) {
  return String(round(Number(value) || 0, 3));
}

export function round(v, digits = 1) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** A percentage of `used` in `total`, 0 when total is 0. */
export function percent(used, total) {
  return total > 0 ? Math.min(100, (100 * used) / total) : 0;
}

/** Seconds since the epoch as a local "YYYY-MM-DD HH:MM:SS". */
export function time(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The CSS class of a Mesos task state. */
export function stateClass(state) {
  if (["TASK_RUNNING", "TASK_FINISHED"].includes(state)) return "ok";
  if (["TASK_STAGING", "TASK_STARTING", "TASK_KILLING"].includes(state)) return "warn";
  if (["TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE"].includes(state)) return "bad";
  return "";
}

/** An element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
