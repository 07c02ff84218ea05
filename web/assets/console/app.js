// The master's cluster console: a hash router over views fed by polling /master/state.

import { getJson, poll, showError } from "/static/common/api.js";
import { el, percent } from "/static/common/format.js";
import { totals, views } from "/static/console/views.js";

const POLL_MS = 2000;
/** Samples of cluster use kept for the overview's chart (one per poll). */
const HISTORY = 150;

const app = {
  state: null,
  roles: null,
  history: [],
  view: null,
  viewKey: null,
};

function currentRoute() {
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { name: parts[0] || "overview", args: parts.slice(1).map(decodeURIComponent) };
}

function record(state) {
  const t = totals(state);
  const pct = (k) => percent(t[k][1], t[k][0]);
  app.history.push({ cpus: pct("cpus"), mem: pct("mem"), disk: pct("disk") });
  if (app.history.length > HISTORY) app.history.shift();
}

function setStatus(state) {
  const leaderPid = state.leader_info?.pid || state.leader || "";
  const leader = state.leader_info
    ? `${state.leader_info.hostname}:${state.leader_info.port}`
    : leaderPid.replace(/^master@/, "");
  document.getElementById("status").textContent =
    `leader ${leader || "unknown"} \u00b7 version ${state.version ?? "?"}`;
  if (!leaderPid) {
    showError("No leading master is elected at the moment: the figures shown are not current.");
  } else if (state.pid && state.pid !== leaderPid) {
    const url = `http://${leaderPid.replace(/^master@/, "")}/`;
    showError(`This master (${state.pid.replace(/^master@/, "")}) is not the leader: the leading master is at ${leader}, ${url}`);
  }
}

function render() {
  const { name, args } = currentRoute();
  const view = views[name] ?? views.notFound;
  for (const a of document.querySelectorAll("header nav a")) {
    a.toggleAttribute("aria-current", a.dataset.view === name);
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
  }
  const main = document.getElementById("main");
  if (app.viewKey !== location.hash) {
    app.view?.destroy?.();
    app.viewKey = location.hash;
    app.view = view.create(args);
    main.replaceChildren(app.view.root ?? el("div"));
  }
  if (app.state) app.view.update(app.state, app);
}

async function load() {
  const [state, roles] = await Promise.all([getJson("/master/state"), getJson("/roles").catch(() => null)]);
  return { state, roles };
}

window.addEventListener("hashchange", render);
poll(load, ({ state, roles }) => {
  app.state = state;
  app.roles = roles;
  record(state);
  setStatus(state);
  render();
}, POLL_MS);
