// Deployments in progress: their apps, steps and progress; rollback or force cancel.

import { getJson, send, showError } from "/static/common/api.js";
import { el } from "/static/common/format.js";
import { DataTable } from "/static/common/table.js";
import { appHref } from "/static/marathon/apps.js";

export function deploymentsView(r, { scheduleRefresh }) {
  const act = (label, fn) => async () => {
    try { await fn(); showError(null); scheduleRefresh(); } catch (e) { showError(`${label}: ${e.message}`); }
  };
  const table = new DataTable({
    id: "deployments-table",
    rowKey: (d) => d.id,
    empty: "No deployment is in progress",
    columns: [
      { key: "id", title: "Deployment", value: (d) => d.id, render: (d) => el("span", { class: "mono" }, d.id) },
      { key: "apps", title: "Applications", value: (d) => (d.affectedApps ?? []).join(", "),
        render: (d) => el("span", {}, ...(d.affectedApps ?? []).flatMap((a, i) => [i ? ", " : "", el("a", { href: appHref(a) }, a)])) },
      { key: "action", title: "Action", value: (d) => (d.currentActions ?? []).map((a) => `${a.action} ${a.app}`).join(", ") },
      { key: "progress", title: "Progress", value: (d) => (d.currentStep ?? 0) / Math.max(1, d.totalSteps ?? 1),
        render: (d) => el("span", {}, `step ${d.currentStep ?? 0} of ${d.totalSteps ?? 0} `,
          el("progress", { max: d.totalSteps ?? 1, value: d.currentStep ?? 0 })) },
      { key: "started", title: "Started", value: (d) => d.version ?? "" },
      { key: "ops", title: "", value: () => "",
        render: (d) => el("span", { class: "toolbar" },
          el("button", { type: "button", "data-rollback": d.id, onclick: act("Rollback", () => send("DELETE", `/v2/deployments/${d.id}`)) }, "Rollback"),
          el("button", { type: "button", class: "danger", "data-stop": d.id,
            onclick: act("Stop", () => send("DELETE", `/v2/deployments/${d.id}?force=true`)) }, "Stop")) },
    ],
  });
  return {
    root: el("section", {}, el("h1", {}, "Deployments"), table.root),
    async refresh() {
      table.setRows(await getJson("/v2/deployments"));
    },
  };
}
