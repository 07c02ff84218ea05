// One application: its instances (state, host, ports, health, logs), the actions (scale,
// restart, suspend, destroy, kill selected instances, reset the launch delay, edit), why
// it waits for offers, its configuration and its versions (with rollback).

import { getJson, send, showError } from "/static/common/api.js";
import { cpus, el, mb } from "/static/common/format.js";
import { DataTable } from "/static/common/table.js";
import { appStatus, health, parentGroup, queueByApp, statusClass } from "/static/marathon/model.js";
import { healthBar } from "/static/marathon/apps.js";

function taskHealth(t) {
  const results = t.healthCheckResults ?? [];
  if (results.length === 0) return "";
  return results.every((r) => r.alive) ? "healthy" : "unhealthy";
}

/** The reason an app waits, from its queue entry: offers seen and what refused them. */
export function waitingReason(q) {
  if (!q) return null;
  const s = q.processedOffersSummary ?? {};
  const refused = (s.rejectSummaryLastOffers ?? []).filter((r) => r.declined > 0)
    .sort((a, b) => b.declined - a.declined)
    .map((r) => `${r.reason} (${r.declined} of ${r.processed})`);
  if (q.delay && q.delay.overdue === false && q.delay.timeLeftSeconds > 0) {
    return `Delayed: the next launch is in ${q.delay.timeLeftSeconds} s (launch backoff after failures).`;
  }
  const seen = `${s.processedOffersCount ?? 0} offers processed, ${s.unusedOffersCount ?? 0} unused`;
  return refused.length
    ? `Waiting for ${q.count} instance(s): ${seen}. Refused for: ${refused.join(", ")}.`
    : `Waiting for ${q.count} instance(s): ${seen}.`;
}

export function appView(r, { scheduleRefresh }) {
  const id = r.args.join("/").startsWith("/") ? r.args.join("/") : `/${r.args.join("/")}`;
  const path = `/v2/apps${id}`;
  const selected = new Set();
  let app = null;
  let info = null;

  const title = el("h1", {}, id);
  const status = el("span", { class: "state" });
  const summary = el("p", { class: "muted", id: "app-summary" });
  const reason = el("p", { class: "notice", id: "queue-reason", hidden: true });
  // What the user typed stays until they scale (refreshes do not overwrite it).
  let scaleEdited = false;
  const scaleInput = el("input", { type: "number", min: "0", id: "scale-instances", "aria-label": "Instances", class: "small",
    oninput: () => { scaleEdited = true; } });

  async function act(label, fn) {
    try {
      await fn();
      showError(null);
      scheduleRefresh();
    } catch (e) {
      showError(`${label}: ${e.message}`);
    }
  }
  const button = (text, attrs, onclick) => el("button", { type: "button", ...attrs, onclick }, text);
  let destroyArmed = false;
  const destroyBtn = button("Destroy", { class: "danger", id: "destroy-app" }, () => {
    if (!destroyArmed) {
      destroyArmed = true;
      destroyBtn.textContent = "Really destroy?";
      return;
    }
    act("Destroy", async () => {
      await send("DELETE", path);
      location.hash = `#/apps?group=${encodeURIComponent(parentGroup(id))}`;
    });
  });
  const actions = el("div", { class: "toolbar actions" },
    scaleInput,
    button("Scale", { id: "scale-app" }, () => act("Scale", async () => {
      await send("PUT", path, { instances: Number(scaleInput.value) });
      scaleEdited = false;
    })),
    button("Restart", { id: "restart-app" }, () => act("Restart", () => send("POST", `${path}/restart`))),
    button("Suspend", { id: "suspend-app" }, () => act("Suspend", () => send("PUT", path, { instances: 0 }))),
    button("Reset delay", { id: "reset-delay" }, () => act("Reset delay", () => send("DELETE", `/v2/queue${id}/delay`))),
    el("a", { class: "button", href: `#/edit/${encodeURIComponent(id)}`, id: "edit-app" }, "Edit"),
    destroyBtn);

  const killSelected = (scale) => act("Kill", async () => {
    await send("POST", `/v2/tasks/delete?scale=${scale}`, { ids: [...selected] });
    selected.clear();
  });
  const instanceActions = el("div", { class: "toolbar" },
    button("Kill selected", { id: "kill-selected" }, () => killSelected(false)),
    button("Kill selected and scale down", { id: "kill-scale" }, () => killSelected(true)));

  const tasks = new DataTable({
    id: "instances-table",
    rowKey: (t) => t.id,
    empty: "No instance is running",
    columns: [
      { key: "select", title: "", value: () => "",
        render: (t) => el("input", { type: "checkbox", "aria-label": `Select ${t.id}`, checked: selected.has(t.id),
          onchange: (e) => (e.target.checked ? selected.add(t.id) : selected.delete(t.id)) }) },
      { key: "id", title: "ID", value: (t) => t.id, render: (t) => el("span", { class: "mono" }, t.id) },
      { key: "state", title: "State", value: (t) => t.state,
        render: (t) => el("span", { class: `state ${t.state === "TASK_RUNNING" ? "ok" : "warn"}` }, (t.state || "").replace(/^TASK_/, "")) },
      { key: "host", title: "Host", value: (t) => t.host },
      { key: "ports", title: "Ports", value: (t) => (t.ports ?? []).join(", ") },
      { key: "health", title: "Health", value: (t) => taskHealth(t),
        render: (t) => { const h = taskHealth(t); return h ? el("span", { class: `state ${h === "healthy" ? "ok" : "bad"}` }, h) : ""; } },
      { key: "started", title: "Started", value: (t) => t.startedAt ?? t.stagedAt ?? "" },
      { key: "logs", title: "Logs", value: () => "", render: (t) => logLinks(t) },
    ],
  });

  function logLinks(t) {
    const master = info?.marathon_config?.master ?? "";
    if (!master || master.startsWith("zk://") || !info?.frameworkId) return "";
    const base = `http://${master.replace(/^https?:\/\//, "")}/#/sandbox/${encodeURIComponent(t.slaveId)}/${encodeURIComponent(info.frameworkId)}/${encodeURIComponent(t.id)}`;
    return el("span", {}, el("a", { href: `${base}?file=stdout`, target: "_blank", rel: "noopener" }, "stdout"), " ",
      el("a", { href: `${base}?file=stderr`, target: "_blank", rel: "noopener" }, "stderr"));
  }

  const config = el("pre", { class: "json", id: "app-config" });
  const versions = new DataTable({
    id: "versions-table",
    rowKey: (v) => v.version,
    initialSort: { key: "version", dir: -1 },
    columns: [
      { key: "version", title: "Version", value: (v) => v.version, render: (v) => el("span", { class: "mono" }, v.version) },
      { key: "current", title: "", value: (v) => (v.current ? "current" : ""),
        render: (v) => (v.current ? el("span", { class: "state ok" }, "current")
          : button("Apply", { "data-version": v.version },
            () => act("Rollback", () => send("PUT", path, { version: v.version })))) },
    ],
  });

  const root = el("section", {},
    el("p", {}, el("a", { href: `#/apps?group=${encodeURIComponent(parentGroup(id))}` }, "\u2190 Applications")),
    el("div", { class: "title-row" }, title, status), summary, reason, actions,
    el("h2", {}, "Instances"), instanceActions, tasks.root,
    el("h2", {}, "Configuration"), config,
    el("h2", {}, "Versions"), versions.root);

  return {
    root,
    async refresh() {
      const [a, queue, vs] = await Promise.all([
        getJson(`${path}?embed=app.tasks&embed=app.deployments&embed=app.counts`),
        getJson("/v2/queue"),
        getJson(`${path}/versions`),
      ]);
      if (!info) info = await getJson("/v2/info").catch(() => null);
      app = a.app;
      const q = queueByApp(queue).get(app.id);
      const st = appStatus(app, q);
      status.className = `state ${statusClass(st)}`;
      status.id = "app-status";
      status.textContent = st;
      const h = health(app);
      summary.replaceChildren(`${app.tasksRunning ?? 0} of ${app.instances} instances running \u00b7 `,
        `cpus ${cpus(app.cpus)} \u00b7 mem ${mb(app.mem)} \u00b7 disk ${mb(app.disk)} each `, healthBar(h, app.instances));
      if (!scaleEdited && document.activeElement !== scaleInput) scaleInput.value = app.instances;
      const why = waitingReason(q);
      reason.hidden = !why;
      reason.textContent = why ?? "";
      tasks.setRows(app.tasks ?? []);
      const { tasks: _t, deployments: _d, tasksRunning, tasksStaged, tasksHealthy, tasksUnhealthy, lastTaskFailure, ...definition } = app;
      config.textContent = JSON.stringify(definition, null, 2);
      versions.setRows((vs.versions ?? []).map((v) => ({ version: v, current: v === app.version })));
    },
  };
}
