// Creating and editing an app: a form for the common fields and a JSON mode for all of
// them. A 422 answer's `details` are shown at the fields their paths name.

import { getJson, send, showError } from "/static/common/api.js";
import { el } from "/static/common/format.js";
import { appHref } from "/static/marathon/apps.js";

const READ_ONLY = ["version", "versionInfo", "tasks", "deployments", "tasksRunning", "tasksStaged",
  "tasksHealthy", "tasksUnhealthy", "lastTaskFailure", "taskStats", "readinessCheckResults", "uris"];

/** Form field name for a 422 detail path ("/container/docker/image" -> "image"). */
export function fieldFor(path) {
  const p = (path || "").replace(/\(\d+\)/g, "").replace(/\[\d+\]/g, "");
  const first = p.split("/").filter(Boolean);
  if (first[0] === "container") return "image"; // the form's only container field
  if (first[0] === "portDefinitions" || first[0] === "ports") return "ports";
  if (first[0] === "healthChecks") return "healthProtocol";
  if (first[0] === "env") return "env";
  const direct = ["id", "cmd", "args", "cpus", "mem", "disk", "instances", "labels", "constraints"];
  return direct.includes(first[0]) ? first[0] : null;
}

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

function pairs(text) {
  const out = {};
  for (const l of lines(text)) {
    const i = l.indexOf("=");
    if (i > 0) out[l.slice(0, i).trim()] = l.slice(i + 1);
    else out[l] = "";
  }
  return out;
}

const unpairs = (obj) => Object.entries(obj ?? {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");

export function formView(r) {
  const editing = r.name === "edit" ? (r.args.join("/").startsWith("/") ? r.args.join("/") : `/${r.args.join("/")}`) : null;
  const group = r.query.get("group") || "/";
  let base = {};       // the definition being edited (fields the form does not show survive)
  let jsonMode = false;

  const fields = {};
  const errors = {};
  function field(name, label, input, hint) {
    input.id = `field-${name}`;
    input.name = name;
    fields[name] = input;
    errors[name] = el("div", { class: "field-error", id: `error-${name}`, role: "alert" });
    input.setAttribute("aria-describedby", `error-${name}`);
    return el("div", { class: "field", "data-field": name },
      el("label", { for: input.id }, label), input, hint ? el("div", { class: "hint" }, hint) : null, errors[name]);
  }
  const text = (attrs = {}) => el("input", { type: "text", ...attrs });
  const number = (attrs = {}) => el("input", { type: "number", step: "any", ...attrs });
  const area = (rows = 3) => el("textarea", { rows });

  const protocol = el("select", {}, ...["", "HTTP", "HTTPS", "TCP", "COMMAND"].map((p) => el("option", { value: p }, p || "none")));
  const form = el("form", { id: "app-form", novalidate: true },
    el("fieldset", {}, el("legend", {}, "General"),
      field("id", "ID", text({ placeholder: `${group === "/" ? "" : group}/my-app`, required: true })),
      field("cmd", "Command", area(2), "Run through /bin/sh -c"),
      field("args", "Arguments", area(2), "One per line, instead of a command"),
      el("div", { class: "row" },
        field("cpus", "CPUs", number({ min: "0" })), field("mem", "Memory (MB)", number({ min: "0" })),
        field("disk", "Disk (MB)", number({ min: "0" })), field("instances", "Instances", number({ min: "0", step: "1" })))),
    el("fieldset", {}, el("legend", {}, "Container and ports"),
      field("image", "Docker image", text({ placeholder: "none: a plain process" })),
      field("ports", "Ports", text({ placeholder: "0, 0" }), "Comma-separated; 0 picks any port from the offer")),
    el("fieldset", {}, el("legend", {}, "Environment, labels, constraints"),
      field("env", "Environment", area(3), "KEY=value, one per line"),
      field("labels", "Labels", area(2), "KEY=value, one per line"),
      field("constraints", "Constraints", area(2), "field:OPERATOR[:value], one per line, e.g. hostname:UNIQUE")),
    el("fieldset", {}, el("legend", {}, "Health check"),
      el("div", { class: "row" },
        field("healthProtocol", "Protocol", protocol),
        field("healthPath", "Path", text({ placeholder: "/" })),
        field("healthPortIndex", "Port index", number({ min: "0", step: "1" })),
        field("healthCommand", "Command", text())),
      el("div", { class: "row" },
        field("healthGrace", "Grace period (s)", number({ min: "0" })),
        field("healthInterval", "Interval (s)", number({ min: "1" })),
        field("healthTimeout", "Timeout (s)", number({ min: "1" })),
        field("healthMaxFailures", "Max consecutive failures", number({ min: "0", step: "1" })))));
  const jsonArea = el("textarea", { id: "app-json", rows: 24, class: "mono", hidden: true, "aria-label": "App definition (JSON)" });
  const general = el("div", { class: "field-error", id: "form-errors", role: "alert" });
  const toggle = el("button", { type: "button", id: "json-mode" }, "JSON mode");
  const submit = el("button", { type: "button", class: "primary", id: "submit-app" }, editing ? "Change application" : "Create application");
  const root = el("section", {}, el("div", { class: "title-row" }, el("h1", {}, editing ? `Edit ${editing}` : "New application"), toggle),
    general, form, jsonArea, el("div", { class: "toolbar" }, submit,
      el("a", { class: "button", href: editing ? appHref(editing) : `#/apps?group=${encodeURIComponent(group)}` }, "Cancel")));

  function fill(def) {
    base = def;
    const v = (x) => (x === undefined || x === null ? "" : String(x));
    fields.id.value = v(def.id);
    fields.cmd.value = v(def.cmd);
    fields.args.value = (def.args ?? []).join("\n");
    fields.cpus.value = v(def.cpus);
    fields.mem.value = v(def.mem);
    fields.disk.value = v(def.disk);
    fields.instances.value = v(def.instances);
    fields.image.value = v(def.container?.docker?.image);
    fields.ports.value = (def.portDefinitions ?? []).map((p) => p.port).join(", ");
    fields.env.value = unpairs(def.env);
    fields.labels.value = unpairs(def.labels);
    fields.constraints.value = (def.constraints ?? []).map((c) => c.join(":")).join("\n");
    const hc = (def.healthChecks ?? [])[0] ?? {};
    fields.healthProtocol.value = v(hc.protocol && hc.protocol.replace(/^MESOS_/, ""));
    fields.healthPath.value = v(hc.path);
    fields.healthPortIndex.value = v(hc.portIndex);
    fields.healthCommand.value = v(hc.command?.value);
    fields.healthGrace.value = v(hc.gracePeriodSeconds);
    fields.healthInterval.value = v(hc.intervalSeconds);
    fields.healthTimeout.value = v(hc.timeoutSeconds);
    fields.healthMaxFailures.value = v(hc.maxConsecutiveFailures);
  }

  /** The definition the form describes, on top of the one being edited. */
  function collect() {
    const def = { ...base };
    for (const k of READ_ONLY) delete def[k];
    const num = (name) => (fields[name].value.trim() === "" ? undefined : Number(fields[name].value));
    const set = (k, val) => { if (val === undefined || val === "" ) delete def[k]; else def[k] = val; };
    set("id", fields.id.value.trim());
    set("cmd", fields.cmd.value.trim() || undefined);
    const args = lines(fields.args.value);
    set("args", args.length ? args : undefined);
    for (const k of ["cpus", "mem", "disk", "instances"]) set(k, num(k));
    const image = fields.image.value.trim();
    if (image) def.container = { ...(def.container ?? {}), type: "DOCKER", docker: { ...(def.container?.docker ?? {}), image } };
    else if (def.container?.type === "DOCKER") delete def.container;
    const ports = fields.ports.value.split(",").map((p) => p.trim()).filter(Boolean);
    def.portDefinitions = ports.map((p, i) => ({ ...(base.portDefinitions?.[i] ?? {}), port: Number(p) }));
    def.env = pairs(fields.env.value);
    def.labels = pairs(fields.labels.value);
    def.constraints = lines(fields.constraints.value).map((l) => l.split(":"));
    const p = fields.healthProtocol.value;
    if (p) {
      const hc = { protocol: p };
      if (p === "HTTP" || p === "HTTPS") hc.path = fields.healthPath.value.trim() || "/";
      if (p === "COMMAND") hc.command = { value: fields.healthCommand.value };
      else if (fields.healthPortIndex.value !== "") hc.portIndex = Number(fields.healthPortIndex.value);
      for (const [k, f] of [["gracePeriodSeconds", "healthGrace"], ["intervalSeconds", "healthInterval"],
        ["timeoutSeconds", "healthTimeout"], ["maxConsecutiveFailures", "healthMaxFailures"]]) {
        if (fields[f].value !== "") hc[k] = Number(fields[f].value);
      }
      def.healthChecks = [hc];
    } else {
      def.healthChecks = [];
    }
    return def;
  }

  function clearErrors() {
    general.replaceChildren();
    for (const [name, e] of Object.entries(errors)) {
      e.replaceChildren();
      fields[name].removeAttribute("aria-invalid");
    }
  }

  function showDetails(err) {
    clearErrors();
    const rest = [];
    for (const d of err.details ?? []) {
      const name = jsonMode ? null : fieldFor(d.path);
      const msg = (d.errors ?? []).join("; ");
      if (name && errors[name]) {
        errors[name].append(el("div", {}, msg));
        fields[name].setAttribute("aria-invalid", "true");
      } else {
        rest.push(`${d.path || "/"}: ${msg}`);
      }
    }
    general.append(el("div", {}, err.message), ...rest.map((m) => el("div", {}, m)));
    const first = Object.entries(errors).find(([, e]) => e.childNodes.length)?.[0];
    if (first) fields[first].focus();
  }

  toggle.addEventListener("click", () => {
    if (!jsonMode) {
      jsonArea.value = JSON.stringify(collect(), null, 2);
    } else {
      try {
        fill(JSON.parse(jsonArea.value));
      } catch (e) {
        general.replaceChildren(el("div", {}, `The JSON is not valid: ${e.message}`));
        return;
      }
    }
    jsonMode = !jsonMode;
    form.hidden = jsonMode;
    jsonArea.hidden = !jsonMode;
    toggle.textContent = jsonMode ? "Form mode" : "JSON mode";
  });

  submit.addEventListener("click", () => save(false));

  /** Send the definition; `force` overrides a deployment that holds the app (409). */
  async function save(force) {
    clearErrors();
    let def;
    try {
      def = jsonMode ? JSON.parse(jsonArea.value) : collect();
    } catch (e) {
      general.replaceChildren(el("div", {}, `The JSON is not valid: ${e.message}`));
      return;
    }
    submit.disabled = true;
    try {
      if (editing) {
        await send("PUT", `/v2/apps${editing}${force ? "?force=true" : ""}`, def);
        location.hash = appHref(editing);
      } else {
        const r = await send("POST", "/v2/apps", def);
        location.hash = appHref(r.body?.id ?? def.id);
      }
      showError(null);
    } catch (e) {
      if (e.status === 409 && editing && (e.body?.deployments ?? []).length) {
        general.replaceChildren(el("div", {}, `${e.message}. Applying the change now stops that deployment.`),
          el("button", { type: "button", class: "danger", id: "force-submit", onclick: () => save(true) },
            "Stop the deployment and apply"));
      } else if (e.details?.length) {
        showDetails(e);
      } else {
        general.replaceChildren(el("div", {}, e.message));
      }
    } finally {
      submit.disabled = false;
    }
  }

  if (!editing) fill({ id: group === "/" ? "" : `${group}/`, cpus: 0.1, mem: 32, disk: 0, instances: 1 });
  let loaded = !editing;
  return {
    root,
    async refresh() {
      if (loaded) return;
      const a = await getJson(`/v2/apps${editing}`);
      fill(a.app);
      loaded = true;
    },
  };
}
