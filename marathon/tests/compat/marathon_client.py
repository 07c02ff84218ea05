"""Drive our Marathon with the unmodified python `marathon` client (PyPI 0.13.0).

Usage: marathon_client.py <base url>. Prints one line per scenario and exits non-zero
on the first failure. The client needs the `collections.Iterable` alias on Python 3.10+
(spec part C), which is the only thing patched here, before the import.
"""

import collections
import collections.abc
import sys
import threading
import time

for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from marathon import MarathonClient  # noqa: E402
from marathon.exceptions import MarathonHttpError, NotFoundError  # noqa: E402
from marathon.models import (  # noqa: E402
    MarathonApp,
    MarathonConstraint,
    MarathonHealthCheck,
)
from marathon.models.container import (  # noqa: E402
    MarathonContainer,
    MarathonContainerVolume,
    MarathonDockerContainer,
)
from marathon.models.group import MarathonGroup  # noqa: E402

URL = sys.argv[1]
client = MarathonClient(URL)
WAIT = 60


def ok(name):
    print("OK", name, flush=True)


def wait(what, pred, timeout=WAIT):
    start = time.time()
    while True:
        v = pred()
        if v:
            return v
        if time.time() - start > timeout:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.5)


def deployed(app_id, n):
    def check():
        app = client.get_app(app_id, embed_tasks=True)
        running = [t for t in app.tasks if t.state == "TASK_RUNNING"]
        return app if not app.deployments and len(running) == n else None

    return wait("%s to run %d tasks" % (app_id, n), check)


# --- metadata -----------------------------------------------------------------
info = client.get_info()
assert info.version >= "0.11.0", info.version
assert info.marathon_config is not None and info.http_config is not None
assert client.ping() is not None
assert client.get_leader() is not None
ok("info, ping, leader")

# --- events: a background reader --------------------------------------------
events = []


def read_events():
    try:
        for ev in client.event_stream():
            events.append(ev)
    except Exception as e:  # the stream ends when the process exits
        events.append(e)


threading.Thread(target=read_events, daemon=True).start()

# --- trivial app ----------------------------------------------------------------
app = client.create_app(
    "test-trivial-app",
    MarathonApp(cmd="sleep 3600", mem=16, cpus=0.1, instances=5),
)
assert app, "create_app must get a 201"
assert app.id == "/test-trivial-app", app.id
deployments = client.list_deployments()
assert len(deployments) == 1, deployments
assert deployments[0].affected_apps == ["/test-trivial-app"]
assert any(a.id == "/test-trivial-app" for a in client.list_apps())
ok("create_app, list_deployments, list_apps")

deployed("/test-trivial-app", 5)
tasks = client.list_tasks("/test-trivial-app")
assert len(tasks) == 5, tasks
assert all(t.app_id == "/test-trivial-app" for t in tasks)
assert all(t.started_at is not None for t in tasks)
assert len(client.list_endpoints()) == 5
ok("tasks run and are listed")

client.scale_app("/test-trivial-app", instances=3)
deployed("/test-trivial-app", 3)
client.scale_app("/test-trivial-app", delta=1)
deployed("/test-trivial-app", 4)
ok("scale_app (instances and delta)")

app = client.get_app("/test-trivial-app", embed_tasks=True)
killed = client.kill_task("/test-trivial-app", app.tasks[0].id, scale=True)
assert killed, killed
deployed("/test-trivial-app", 3)
ids = [t.id for t in client.get_app("/test-trivial-app", embed_tasks=True).tasks]
assert client.kill_given_tasks(ids[:2])
wait("killed tasks to be replaced", lambda: len(
    [t for t in client.list_tasks("/test-trivial-app") if t.id not in ids and t.state == "TASK_RUNNING"]) >= 2)
ok("kill_task with scale, kill_given_tasks")

client.restart_app("/test-trivial-app")
deployed("/test-trivial-app", 3)
versions = client.list_versions("/test-trivial-app")
assert len(versions) >= 4, versions
old = client.get_version("/test-trivial-app", versions[-1])
assert old.instances == 5, old.instances
client.rollback_app("/test-trivial-app", versions[-1])
deployed("/test-trivial-app", 5)
ok("restart_app, versions, rollback_app")

app = client.get_app("/test-trivial-app")
app.cmd = "sleep 3601"
client.update_app("/test-trivial-app", app)
deployed("/test-trivial-app", 5)
assert client.get_app("/test-trivial-app").cmd == "sleep 3601"
ok("update_app with a fetched app")

try:
    client.create_app("test-trivial-app", MarathonApp(cmd="sleep 1", mem=16, cpus=0.1))
    raise AssertionError("a duplicate app must be refused")
except MarathonHttpError as e:
    assert e.status_code == 409, e
try:
    client.get_app("/does-not-exist")
    raise AssertionError("a missing app must be 404")
except NotFoundError:
    pass
try:
    client.create_app("bad-cpus", MarathonApp(cmd="sleep 1", cpus=-1, mem=16))
    raise AssertionError("negative cpus must be refused")
except MarathonHttpError as e:
    assert e.status_code == 422, e
ok("errors: 409, 404, 422")

# --- complex app in the 1.4 form (its image does not exist: tasks never start) ---
complex_app = MarathonApp(
    cmd="/bin/true",
    cpus=0.25,
    mem=30,
    instances=1,
    backoff_factor=2,
    backoff_seconds=1,
    uris=["file:///root/.dockercfg"],
    container=MarathonContainer(
        docker=MarathonDockerContainer(
            image="localhost/fake_docker_url",
            network="BRIDGE",
            port_mappings=[{"containerPort": 8888, "hostPort": 0, "name": "myport", "protocol": "tcp"}],
            parameters=[{"key": "add-host", "value": "google-public-dns-a.google.com:8.8.8.8"}],
        ),
        volumes=[MarathonContainerVolume(container_path="/etc/stuff", host_path="/etc/stuff", mode="RO")],
    ),
    health_checks=[MarathonHealthCheck(
        grace_period_seconds=3, interval_seconds=10, max_consecutive_failures=3,
        path="/health", port_index=0, protocol="HTTP", timeout_seconds=10)],
    constraints=[MarathonConstraint("hostname", "LIKE", ".*")],
)
created = client.create_app("test-complex-app", complex_app)
assert created, "complex app must be created"
back = client.get_app("/test-complex-app")
assert back.container.docker.image == "localhost/fake_docker_url"
assert back.networks[0]["mode"] == "container/bridge", back.networks
assert back.container.port_mappings[0].container_port == 8888
assert back.fetch[0]["uri"] == "file:///root/.dockercfg"
ok("complex 1.4-style app accepted and read back in the 1.5 form")

# --- queue and deployments that cannot finish -------------------------------------
client.create_app("too-big", MarathonApp(cmd="sleep 1", mem=16, cpus=1000, instances=1))
item = wait("the queue to list too-big",
            lambda: next((q for q in client.list_queue() if q.app.id == "/too-big"), None))
assert item.delay is not None and item.count == 1
stuck = [d for d in client.list_deployments() if "/too-big" in d.affected_apps]
assert len(stuck) == 1
client.delete_deployment(stuck[0].id, force=True)
wait("the forced cancel", lambda: not [d for d in client.list_deployments() if d.id == stuck[0].id])
ok("list_queue, delete_deployment(force)")

# --- groups ---------------------------------------------------------------------------
client.create_group(MarathonGroup(id="/grp", apps=[
    MarathonApp(id="inner", cmd="sleep 100", cpus=0.1, mem=16, instances=1)]))
deployed("/grp/inner", 1)
groups = client.list_groups()
assert any(g.id == "/grp" for g in groups), groups
g = client.get_group("/grp")
assert [a.id for a in g.apps] == ["/grp/inner"], g.apps
client.scale_group("/grp", 2)
deployed("/grp/inner", 2)
client.delete_group("/grp", force=True)
wait("the group's app to go", lambda: not any(a.id == "/grp/inner" for a in client.list_apps()))
ok("groups: create, list, get, scale, delete")

# --- cleanup, as the itests' after_scenario does ---------------------------------------
for a in client.list_apps():
    client.delete_app(a.id, force=True)
wait("every deployment to finish", lambda: not client.list_deployments())
ok("delete_app(force) for every app, deployments drain")

kinds = {e.event_type for e in events if not isinstance(e, Exception)}
errors = [e for e in events if isinstance(e, Exception)]
assert not errors, errors
for k in ("event_stream_attached", "api_post_event", "deployment_info", "deployment_success",
          "status_update_event"):
    assert k in kinds, (k, kinds)
ok("event_stream: %d events of %d types, none the client rejected" % (len(events), len(kinds)))
