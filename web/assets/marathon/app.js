// The Marathon UI: a hash router over views. Data comes from the REST API; the
// /v2/events stream tells when to refresh (at most once a second), with slow polling as a
// fallback while the stream is down.

import { getJson, showError } from "/static/common/api.js";
import { appsView } from "/static/marathon/apps.js";
import { appView } from "/static/marathon/app_page.js";
import { formView } from "/static/marathon/form.js";
import { deploymentsView } from "/static/marathon/deployments.js";

const MIN_REFRESH_MS = 1000;
const FALLBACK_POLL_MS = 5000;

const routes = {
  apps: appsView,
  app: appView,
  create: formView,
  edit: formView,
  deployments: deploymentsView,
};

const ui = { view: null, key: null, timer: null, lastRefresh: 0, pending: false, streamUp: false };

export function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "apps", args: parts.slice(1), query: new URLSearchParams(query ?? "") };
}

async function refresh() {
  ui.pending = false;
  ui.lastRefresh = Date.now();
  if (!ui.view) return;
  try {
    await ui.view.refresh();
    showError(null);
  } catch (e) {
    showError(e.message);
  }
}

/** Refresh soon: now if the last refresh is old enough, else once the second is over. */
export function scheduleRefresh() {
  if (ui.pending) return;
  ui.pending = true;
  const wait = Math.max(0, ui.lastRefresh + MIN_REFRESH_MS - Date.now());
  setTimeout(refresh, wait);
}

function render() {
  const r = route();
  if (ui.key === location.hash && ui.view) return;
  ui.view?.destroy?.();
  ui.key = location.hash;
  const make = routes[r.name] ?? routes.apps;
  ui.view = make(r, { scheduleRefresh });
  for (const a of document.querySelectorAll("header nav a")) {
    const current = a.dataset.view === (r.name === "app" || r.name === "create" || r.name === "edit" ? "apps" : r.name);
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.getElementById("main").replaceChildren(ui.view.root);
  ui.lastRefresh = 0;
  ui.pending = false;
  scheduleRefresh();
}

function connectEvents() {
  const status = document.getElementById("status");
  const es = new EventSource("/v2/events");
  es.onopen = () => { ui.streamUp = true; status.textContent = "live"; };
  es.onmessage = () => scheduleRefresh();
  for (const type of ["status_update_event", "deployment_info", "deployment_success", "deployment_failed",
    "deployment_step_success", "deployment_step_failure", "api_post_event", "group_change_success",
    "instance_changed_event", "health_status_changed_event", "instance_health_changed_event",
    "unhealthy_instance_kill_event", "app_terminated_event", "failed_health_check_event"]) {
    es.addEventListener(type, () => scheduleRefresh());
  }
  es.onerror = () => {
    ui.streamUp = false;
    status.textContent = "reconnecting to the event stream\u2026";
  };
}

async function showLeader() {
  try {
    const info = await getJson("/v2/info");
    const s = document.getElementById("status");
    s.dataset.version = info.version;
    s.title = `Marathon ${info.version}, leader ${info.leader}`;
  } catch (_) { /* the views report errors */ }
}

window.addEventListener("hashchange", render);
setInterval(() => { if (!ui.streamUp) scheduleRefresh(); }, FALLBACK_POLL_MS);
connectEvents();
showLeader();
render();
