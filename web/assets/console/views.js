// The console's views. Each: create(args) -> { root, update(state, app) }.

import { cpus, el, mb, percent, stateClass, time } from "/static/common/format.js";
import { DataTable } from "/static/common/table.js";
import { lineChart } from "/static/common/chart.js";
import { sandbox } from "/static/console/sandbox.js";

const num = (v) => Number(v) || 0;

/** "cpus 1.5 · mem 2 GB · disk 10 GB" for a resources object. */
function resources(r) {
  if (!r) return "";
  const parts = [`cpus ${cpus(r.cpus)}`, `mem ${mb(r.mem)}`, `disk ${mb(r.disk)}`];
  if (num(r.gpus) > 0) parts.push(`gpus ${num(r.gpus)}`);
  if (r.ports) parts.push(`ports ${r.ports}`);
  return parts.join(" \u00b7 ");
}

function attributes(a) {
  return Object.entries(a ?? {}).map(([k, v]) => `${k}:${v}`).join(", ");
}

function stateBadge(state) {
  return el("span", { class: `state ${stateClass(state)}` }, (state || "").replace(/^TASK_/, ""));
}

/** Cluster [total, allocated] of cpus, mem, disk and gpus, summed over the agents. */
export function totals(state) {
  const sum = { cpus: [0, 0], mem: [0, 0], disk: [0, 0], gpus: [0, 0] };
  for (const a of state.slaves ?? []) {
    for (const k of Object.keys(sum)) {
      sum[k][0] += num(a.resources?.[k]);
      sum[k][1] += num(a.used_resources?.[k]);
    }
  }
  return sum;
}

/** Every task of the state with its framework, and whether it is completed. */
export function allTasks(state, completed) {
  const out = [];
  for (const f of state.frameworks ?? []) {
    for (const t of (completed ? f.completed_tasks : f.tasks) ?? []) out.push({ ...t, framework: f });
  }
  if (completed) {
    for (const f of state.completed_frameworks ?? []) {
      for (const t of [...(f.tasks ?? []), ...(f.completed_tasks ?? [])]) out.push({ ...t, framework: f });
    }
  }
  return out;
}

function started(t) {
  const s = (t.statuses ?? []).find((x) => x.state === "TASK_RUNNING") ?? (t.statuses ?? [])[0];
  return s ? s.timestamp : 0;
}

function agentHost(state, id) {
  const a = (state.slaves ?? []).find((s) => s.id === id);
  return a ? a.hostname : id;
}

function card(label, value, sub, pct) {
  return el("div", { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "value" }, value),
    sub ? el("div", { class: "sub" }, sub) : null,
    pct === undefined ? null : el("div", { class: "bar", role: "img", "aria-label": `${Math.round(pct)}% used` },
      el("span", { style: `width:${pct.toFixed(1)}%` })));
}

const overview = {
  create() {
    const cards = el("div", { class: "cards", id: "overview-cards" });
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Cluster use over the last minutes");
    const colors = { cpus: "#2f6fdf", mem: "#1f8a4c", disk: "#b26a00" };
    const legend = el("div", { class: "legend" },
      ...Object.entries(colors).map(([k, c]) => el("span", {}, el("i", { style: `background:${c}` }), k)));
    const root = el("section", {}, el("h1", {}, "Cluster"), cards,
      el("h2", {}, "Use over the last minutes"), svg, legend);
    return {
      root,
      update(state, app) {
        const sum = totals(state);
        const tasks = allTasks(state, false);
        const running = tasks.filter((t) => t.state === "TASK_RUNNING").length;
        const leader = state.leader_info ? `${state.leader_info.hostname}:${state.leader_info.port}` : "none";
        cards.replaceChildren(
          card("Leader", leader, `version ${state.version ?? "?"}`),
          card("Agents", String(num(state.activated_slaves)),
            `${num(state.deactivated_slaves)} deactivated \u00b7 ${num(state.unreachable_slaves)} unreachable`),
          card("Frameworks", String((state.frameworks ?? []).length),
            `${(state.completed_frameworks ?? []).length} completed`),
          card("Tasks", String(tasks.length), `${running} running`),
          card("CPUs", `${cpus(sum.cpus[1])} / ${cpus(sum.cpus[0])}`, "allocated / total", percent(sum.cpus[1], sum.cpus[0])),
          card("Memory", `${mb(sum.mem[1])} / ${mb(sum.mem[0])}`, "allocated / total", percent(sum.mem[1], sum.mem[0])),
          card("Disk", `${mb(sum.disk[1])} / ${mb(sum.disk[0])}`, "allocated / total", percent(sum.disk[1], sum.disk[0])),
          card("GPUs", `${sum.gpus[1]} / ${sum.gpus[0]}`, "allocated / total", percent(sum.gpus[1], sum.gpus[0])),
        );
        lineChart(svg, Object.entries(colors).map(([k, color]) => ({
          label: k, color, points: app.history.map((h) => h[k]),
        })), 150);
      },
    };
  },
};

function tableView(title, table, rows) {
  return {
    create() {
      const t = table();
      return { root: el("section", {}, el("h1", {}, title), t.root), update: (state, app) => t.setRows(rows(state, app)) };
    },
  };
}

const agents = tableView("Agents", () => new DataTable({
  id: "agents-table",
  rowKey: (a) => a.id,
  empty: "No agent is registered",
  columns: [
    { key: "id", title: "ID", value: (a) => a.id, render: (a) => el("span", { class: "mono" }, a.id) },
    { key: "hostname", title: "Host", value: (a) => `${a.hostname}:${a.port}` },
    { key: "health", title: "Health", value: (a) => (a.active ? "active" : "inactive"),
      render: (a) => el("span", { class: `state ${a.active ? "ok" : "bad"}` }, a.active ? "active" : "inactive") },
    { key: "cpus", title: "CPUs", num: true, value: (a) => num(a.resources?.cpus), render: (a) => cpus(a.resources?.cpus) },
    { key: "cpus_used", title: "CPUs used", num: true, value: (a) => num(a.used_resources?.cpus), render: (a) => cpus(a.used_resources?.cpus) },
    { key: "mem", title: "Mem", num: true, value: (a) => num(a.resources?.mem), render: (a) => mb(a.resources?.mem) },
    { key: "mem_used", title: "Mem used", num: true, value: (a) => num(a.used_resources?.mem), render: (a) => mb(a.used_resources?.mem) },
    { key: "disk", title: "Disk", num: true, value: (a) => num(a.resources?.disk), render: (a) => mb(a.resources?.disk) },
    { key: "tasks", title: "Tasks", num: true, value: (a) => a.tasks_running ?? 0 },
    { key: "attributes", title: "Attributes", value: (a) => attributes(a.attributes) },
    { key: "registered", title: "Registered", value: (a) => num(a.registered_time), render: (a) => time(a.registered_time) },
  ],
}), (state) => {
  const running = {};
  for (const t of allTasks(state, false)) {
    if (t.state === "TASK_RUNNING") running[t.slave_id] = (running[t.slave_id] ?? 0) + 1;
  }
  return (state.slaves ?? []).map((a) => ({ ...a, tasks_running: running[a.id] ?? 0 }));
});

const frameworks = tableView("Frameworks", () => new DataTable({
  id: "frameworks-table",
  rowKey: (f) => f.id,
  empty: "No framework is registered",
  columns: [
    { key: "id", title: "ID", value: (f) => f.id, render: (f) => el("span", { class: "mono" }, f.id) },
    { key: "name", title: "Name", value: (f) => f.name,
      render: (f) => (f.webui_url ? el("a", { href: f.webui_url }, f.name) : f.name) },
    { key: "role", title: "Role", value: (f) => f.role },
    { key: "principal", title: "Principal", value: (f) => f.principal ?? "" },
    { key: "user", title: "User", value: (f) => f.user },
    { key: "state", title: "State", value: (f) => (f.active ? "active" : f.connected ? "inactive" : "disconnected"),
      render: (f) => el("span", { class: `state ${f.active ? "ok" : "warn"}` }, f.active ? "active" : f.connected ? "inactive" : "disconnected") },
    { key: "tasks", title: "Tasks", num: true, value: (f) => (f.tasks ?? []).length },
    { key: "cpus", title: "CPUs", num: true, value: (f) => num(f.used_resources?.cpus), render: (f) => cpus(f.used_resources?.cpus) },
    { key: "mem", title: "Mem", num: true, value: (f) => num(f.used_resources?.mem), render: (f) => mb(f.used_resources?.mem) },
    { key: "offers", title: "Offers", num: true, value: (f) => (f.offers ?? []).length },
    { key: "registered", title: "Registered", value: (f) => num(f.registered_time), render: (f) => time(f.registered_time) },
  ],
}), (state) => state.frameworks ?? []);

function taskTable(id, empty) {
  return () => new DataTable({
    id,
    rowKey: (t) => `${t.framework_id}/${t.id}`,
    signature: (t) => JSON.stringify({ ...t, framework: t.framework?.name }),
    empty,
    columns: [
      { key: "id", title: "ID", value: (t) => t.id, render: (t) => el("span", { class: "mono" }, t.id) },
      { key: "name", title: "Name", value: (t) => t.name },
      { key: "state", title: "State", value: (t) => t.state, render: (t) => stateBadge(t.state) },
      { key: "framework", title: "Framework", value: (t) => t.framework?.name ?? t.framework_id },
      { key: "agent", title: "Agent", value: (t) => t.agent_host },
      { key: "cpus", title: "CPUs", num: true, value: (t) => num(t.resources?.cpus), render: (t) => cpus(t.resources?.cpus) },
      { key: "mem", title: "Mem", num: true, value: (t) => num(t.resources?.mem), render: (t) => mb(t.resources?.mem) },
      { key: "started", title: "Started", value: (t) => started(t), render: (t) => time(started(t)) },
      { key: "sandbox", title: "Sandbox", value: () => "",
        render: (t) => el("a", { href: sandboxHref(t.slave_id, t.framework_id, t.executor_id || t.id) }, "Sandbox") },
    ],
  });
}

export function sandboxHref(agentId, frameworkId, executorId, path = "") {
  const parts = [agentId, frameworkId, executorId].map(encodeURIComponent);
  return `#/sandbox/${parts.join("/")}${path ? `/${path.split("/").map(encodeURIComponent).join("/")}` : ""}`;
}

const tasks = {
  create() {
    const active = taskTable("tasks-table", "No active task")();
    const done = taskTable("completed-tasks-table", "No completed task")();
    return {
      root: el("section", {}, el("h1", {}, "Tasks"), active.root, el("h2", {}, "Completed tasks"), done.root),
      update(state) {
        const withHost = (t) => ({ ...t, agent_host: agentHost(state, t.slave_id) });
        active.setRows(allTasks(state, false).map(withHost));
        done.setRows(allTasks(state, true).map(withHost));
      },
    };
  },
};

const roles = tableView("Roles", () => new DataTable({
  id: "roles-table",
  rowKey: (r) => r.name,
  empty: "No role is known",
  columns: [
    { key: "name", title: "Role", value: (r) => r.name },
    { key: "weight", title: "Weight", num: true, value: (r) => num(r.weight ?? 1) },
    { key: "frameworks", title: "Frameworks", num: true, value: (r) => (r.frameworks ?? []).length },
    { key: "cpus", title: "CPUs allocated", num: true, value: (r) => num(r.allocated?.cpus), render: (r) => cpus(r.allocated?.cpus) },
    { key: "mem", title: "Mem allocated", num: true, value: (r) => num(r.allocated?.mem), render: (r) => mb(r.allocated?.mem) },
    { key: "offered", title: "Offered", value: (r) => resources(r.offered) },
  ],
}), (state, app) => app.roles?.roles ?? []);

const offers = tableView("Offers", () => new DataTable({
  id: "offers-table",
  rowKey: (o) => o.id,
  empty: "No offer is outstanding",
  columns: [
    { key: "id", title: "Offer", value: (o) => o.id, render: (o) => el("span", { class: "mono" }, o.id) },
    { key: "framework", title: "Framework", value: (o) => o.framework_name },
    { key: "agent", title: "Agent", value: (o) => o.agent_host },
    { key: "resources", title: "Resources", value: (o) => resources(o.resources) },
  ],
}), (state) => (state.frameworks ?? []).flatMap((f) => (f.offers ?? []).map((o) => ({
  ...o, framework_name: f.name, agent_host: agentHost(state, o.slave_id),
}))));

const notFound = {
  create() {
    return { root: el("section", {}, el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/" }, "Back to the overview"))), update() {} };
  },
};

export const views = { overview, agents, frameworks, tasks, roles, offers, sandbox, notFound };
