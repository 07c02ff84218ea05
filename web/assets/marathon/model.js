// What the UI derives from Marathon's JSON: app status, health, group paths.

/** The status Marathon's UI shows for an app, given its queue entry (if any). */
export function appStatus(app, queued) {
  if ((app.deployments ?? []).length > 0) return "Deploying";
  if (queued && queued.delay && queued.delay.overdue === false && queued.delay.timeLeftSeconds > 0) return "Delayed";
  if (queued && queued.count > 0) return "Waiting";
  if (app.instances === 0 && (app.tasksRunning ?? 0) === 0) return "Suspended";
  return "Running";
}

export const STATUSES = ["Running", "Deploying", "Suspended", "Waiting", "Delayed"];

export function statusClass(status) {
  return { Running: "ok", Deploying: "warn", Waiting: "warn", Delayed: "bad", Suspended: "" }[status] ?? "";
}

/** Health parts of an app's running instances: {healthy, unhealthy, unknown, staged}. */
export function health(app) {
  const healthy = app.tasksHealthy ?? 0;
  const unhealthy = app.tasksUnhealthy ?? 0;
  const running = app.tasksRunning ?? 0;
  const staged = app.tasksStaged ?? 0;
  return { healthy, unhealthy, unknown: Math.max(0, running - healthy - unhealthy), staged };
}

/** "/a/b" -> ["a", "b"]. */
export function segments(id) {
  return id.split("/").filter(Boolean);
}

/** The group an app id is in: "/a/b/app" -> "/a/b", "/app" -> "/". */
export function parentGroup(id) {
  const s = segments(id);
  return s.length <= 1 ? "/" : `/${s.slice(0, -1).join("/")}`;
}

/** The queue entries by app id. */
export function queueByApp(queue) {
  const m = new Map();
  for (const q of queue?.queue ?? []) if (q.app?.id) m.set(q.app.id, q);
  return m;
}
