// The applications list: the current group's subgroups (as folders) and apps, with status,
// instances, resources and a health bar; search and a status filter.

import { getJson } from "/static/common/api.js";
import { cpus, el, mb } from "/static/common/format.js";
import { DataTable } from "/static/common/table.js";
import { STATUSES, appStatus, health, parentGroup, queueByApp, segments, statusClass } from "/static/marathon/model.js";

export function healthBar(h, total) {
  const n = Math.max(1, total);
  const part = (count, cls, label) => (count > 0
    ? el("span", { class: cls, style: `width:${(100 * count / n).toFixed(1)}%`, title: `${count} ${label}` })
    : null);
  return el("div", { class: "health", role: "img",
    "aria-label": `${h.healthy} healthy, ${h.unhealthy} unhealthy, ${h.unknown} unknown, ${h.staged} staged` },
  part(h.healthy, "healthy", "healthy"), part(h.unhealthy, "unhealthy", "unhealthy"),
  part(h.unknown, "unknown", "running, health unknown"), part(h.staged, "staged", "staged"));
}

export function appHref(id) {
  return `#/app/${encodeURIComponent(id)}`;
}

export function appsView(r) {
  const group = r.query.get("group") || "/";
  let statusFilter = r.query.get("status") || "";
  const filter = el("select", { "aria-label": "Status", id: "status-filter",
    onchange: () => { statusFilter = filter.value; show(); } },
  el("option", { value: "" }, "All statuses"), ...STATUSES.map((s) => el("option", { value: s, selected: s === statusFilter }, s)));
  const table = new DataTable({
    id: "apps-table",
    rowKey: (row) => row.id,
    empty: "No application here yet",
    columns: [
      { key: "name", title: "Name", value: (row) => `${row.folder ? "0" : "1"}${row.name}`,
        render: (row) => (row.folder
          ? el("a", { href: `#/apps?group=${encodeURIComponent(row.id)}`, class: "folder" }, row.name)
          : el("a", { href: appHref(row.id) }, row.name)) },
      { key: "status", title: "Status", value: (row) => row.status ?? "",
        render: (row) => (row.folder ? "" : el("span", { class: `state ${statusClass(row.status)}` }, row.status)) },
      { key: "instances", title: "Running instances", num: true, value: (row) => row.running,
        render: (row) => `${row.running} of ${row.instances}` },
      { key: "cpus", title: "CPUs", num: true, value: (row) => row.cpus, render: (row) => cpus(row.cpus) },
      { key: "mem", title: "Memory", num: true, value: (row) => row.mem, render: (row) => mb(row.mem) },
      { key: "health", title: "Health", value: (row) => row.health.healthy - row.health.unhealthy,
        render: (row) => healthBar(row.health, row.instances) },
    ],
  });
  const crumbs = el("nav", { class: "crumbs", "aria-label": "Group" });
  const create = el("a", { class: "button primary", href: `#/create?group=${encodeURIComponent(group)}`, id: "create-app" }, "Create application");
  const root = el("section", {}, el("div", { class: "title-row" }, el("h1", {}, "Applications"), create),
    crumbs, el("div", { class: "toolbar" }, filter), table.root);
  let rows = [];

  function show() {
    table.setRows(statusFilter ? rows.filter((x) => !x.folder && x.status === statusFilter) : rows);
  }

  crumbs.replaceChildren(el("a", { href: "#/apps" }, "All"),
    ...segments(group).flatMap((s, i, all) => [" / ",
      el("a", { href: `#/apps?group=${encodeURIComponent(`/${all.slice(0, i + 1).join("/")}`)}` }, s)]));

  return {
    root,
    async refresh() {
      const [list, queue] = await Promise.all([
        getJson("/v2/apps?embed=apps.counts&embed=apps.deployments"),
        getJson("/v2/queue"),
      ]);
      const queued = queueByApp(queue);
      const depth = segments(group).length;
      const folders = new Map();
      rows = [];
      for (const app of list.apps ?? []) {
        const s = segments(app.id);
        if (group !== "/" && !app.id.startsWith(`${group}/`)) continue;
        const h = health(app);
        const running = app.tasksRunning ?? 0;
        if (parentGroup(app.id) === (group === "/" ? "/" : group)) {
          rows.push({ id: app.id, name: s[s.length - 1], folder: false, status: appStatus(app, queued.get(app.id)),
            running, instances: app.instances, cpus: app.cpus * app.instances, mem: app.mem * app.instances, health: h });
        } else {
          const id = `/${s.slice(0, depth + 1).join("/")}`;
          const f = folders.get(id) ?? { id, name: s[depth], folder: true, running: 0, instances: 0, cpus: 0, mem: 0,
            health: { healthy: 0, unhealthy: 0, unknown: 0, staged: 0 } };
          f.running += running; f.instances += app.instances; f.cpus += app.cpus * app.instances; f.mem += app.mem * app.instances;
          for (const k of Object.keys(h)) f.health[k] += h[k];
          folders.set(id, f);
        }
      }
      rows.push(...folders.values());
      show();
    },
  };
}
