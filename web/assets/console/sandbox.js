// A task's sandbox: its directory on the agent (browse), and a file followed live (like
// `tail -f`), read straight from the agent's /files endpoints.

import { getJson, showError } from "/static/common/api.js";
import { el, mb, time } from "/static/common/format.js";
import { DataTable } from "/static/common/table.js";

/** Bytes read at most per request; the first read shows at most the last CHUNK bytes. */
const CHUNK = 64 * 1024;
const FOLLOW_MS = 1000;

/** `ip:port` of an agent, from its `pid` (`slave(1)@ip:port`), else hostname:port. */
export function agentAddress(agent) {
  const m = /@(.+)$/.exec(agent.pid || "");
  return m ? m[1] : `${agent.hostname}:${agent.port}`;
}

function executorDirectory(agentState, frameworkId, executorId) {
  const fws = [...(agentState.frameworks ?? []), ...(agentState.completed_frameworks ?? [])];
  for (const f of fws.filter((f) => f.id === frameworkId)) {
    for (const e of [...(f.executors ?? []), ...(f.completed_executors ?? [])]) {
      if (e.id === executorId && e.directory) return e.directory;
    }
  }
  return null;
}

function hrefFor(ids, rel) {
  const parts = [ids.agent, ids.framework, ids.executor].map(encodeURIComponent);
  const tail = rel ? `/${rel.split("/").map(encodeURIComponent).join("/")}` : "";
  return `#/sandbox/${parts.join("/")}${tail}`;
}

export const sandbox = {
  create(args) {
    const [agent, framework, executor, ...rest] = args;
    const ids = { agent, framework, executor };
    const rel = rest.join("/");
    const crumbs = el("nav", { class: "toolbar", "aria-label": "Path" });
    const listing = new DataTable({
      id: "sandbox-table",
      rowKey: (f) => f.name,
      empty: "This directory is empty",
      columns: [
        { key: "name", title: "Name", value: (f) => f.name,
          render: (f) => el("a", { href: f.href, "data-dir": f.dir ? "1" : null }, f.dir ? `${f.name}/` : f.name) },
        { key: "mode", title: "Mode", value: (f) => f.mode, render: (f) => el("span", { class: "mono" }, f.mode) },
        { key: "size", title: "Size", num: true, value: (f) => f.size, render: (f) => (f.dir ? "" : bytes(f.size)) },
        { key: "mtime", title: "Modified", value: (f) => f.mtime, render: (f) => time(f.mtime) },
      ],
    });
    const follow = el("pre", { id: "file-content", class: "file", tabindex: "0", "aria-live": "off" });
    const followTitle = el("h2", {});
    const root = el("section", {}, el("h1", {}, "Sandbox"),
      el("p", { class: "muted mono" }, `${framework} / ${executor}`), crumbs, listing.root,
      followTitle, follow);
    let base = null;       // http://agent
    let dir = null;        // the executor's sandbox directory on the agent
    let loaded = false;
    let followTimer = null;
    let offset = 0;
    let followed = null;

    async function locate(state) {
      const a = (state.slaves ?? []).find((s) => s.id === agent);
      if (!a) throw new Error(`Agent ${agent} is not registered with the master`);
      base = `http://${agentAddress(a)}`;
      const agentState = await getJson(`${base}/state`);
      dir = executorDirectory(agentState, framework, executor);
      if (!dir) throw new Error(`Agent ${a.hostname} has no sandbox for executor ${executor}`);
    }

    async function list() {
      const path = rel ? `${dir}/${rel}` : dir;
      const entries = await getJson(`${base}/files/browse?path=${encodeURIComponent(path)}`);
      listing.setRows(entries.map((e) => {
        const name = e.path.split("/").pop();
        const dirEntry = e.mode.startsWith("d");
        const childRel = rel ? `${rel}/${name}` : name;
        return {
          name, dir: dirEntry, mode: e.mode, size: e.size, mtime: e.mtime,
          href: dirEntry ? hrefFor(ids, childRel) : `${hrefFor(ids, rel)}?file=${encodeURIComponent(name)}`,
        };
      }));
      crumbs.replaceChildren(el("a", { href: hrefFor(ids, "") }, "sandbox"),
        ...rel.split("/").filter(Boolean).flatMap((p, i, all) =>
          [" / ", el("a", { href: hrefFor(ids, all.slice(0, i + 1).join("/")) }, p)]));
    }

    async function read(path, from, length) {
      return getJson(`${base}/files/read?path=${encodeURIComponent(path)}&offset=${from}&length=${length}`);
    }

    async function startFollowing(name) {
      followed = rel ? `${dir}/${rel}/${name}` : `${dir}/${name}`;
      followTitle.textContent = name;
      follow.textContent = "";
      const end = (await read(followed, -1, -1)).offset;
      offset = Math.max(0, end - CHUNK);
      const tick = async () => {
        try {
          for (;;) {
            const r = await read(followed, offset, CHUNK);
            if (!r.data) break;
            const atBottom = follow.scrollTop + follow.clientHeight >= follow.scrollHeight - 4;
            follow.append(r.data);
            offset = r.offset + new TextEncoder().encode(r.data).length;
            if (atBottom) follow.scrollTop = follow.scrollHeight;
            if (r.data.length < CHUNK) break;
          }
        } catch (e) {
          showError(e.message);
        }
        followTimer = setTimeout(tick, FOLLOW_MS);
      };
      tick();
    }

    return {
      root,
      async update(state) {
        if (loaded) return;
        loaded = true;
        try {
          await locate(state);
          await list();
          const file = new URLSearchParams(location.hash.split("?")[1] ?? "").get("file");
          if (file) await startFollowing(file);
        } catch (e) {
          loaded = false;
          showError(e.message);
        }
      },
      destroy() {
        clearTimeout(followTimer);
      },
    };
  },
};

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 102.4) / 10} KB`;
  return mb(n / (1024 * 1024));
}
