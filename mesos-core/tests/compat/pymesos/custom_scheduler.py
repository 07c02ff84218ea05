#!/usr/bin/env python3
"""pymesos compatibility scheduler: tasks run by a custom executor (custom_executor.py).

usage: custom_scheduler.py <master host:port> <n_tasks> [watchdog_seconds]

Launches n tasks `custom-<i>` that share one ExecutorInfo `compat-executor`
(command: `<this python> custom_executor.py`, resources cpus 0.1 mem 32), each
with base64 `data`. The offer check counts the executor's resources as long as
the executor is not yet known to run on that agent (the master charges them on
the first launch). The executor answers each task with TASK_RUNNING, a framework
message `echo:<task_id>:<data>` and TASK_FINISHED. When every task is FINISHED
and every echo arrived, the scheduler stops the driver (TEARDOWN).

stdout, one line each:
  REGISTERED <framework_id>
  LAUNCH <offer_id> <task_id>...
  DECLINE <offer_id> <refuse_seconds>
  UPDATE <task_id> <state> reason=<reason|-> source=<source|-> uuid=<yes|no>
  MESSAGE <executor_id> <agent_id> <task_id> <ok|BAD>
  DONE
  RESULT <task_id> <final_state> <expected_state> <ok|MISMATCH> message=<yes|no>
  FAIL <reason>            (zero or more)
Exit status 0 only when all of that happened; 1 otherwise; 3 on watchdog timeout.
"""
import os
import shlex
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from addict import Dict  # noqa: E402
from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data  # noqa: E402

from common import (TERMINAL_STATES, emit, framework_info, log, run_driver,  # noqa: E402
                    scalar, scalar_resource)

EXECUTOR_ID = 'compat-executor'
EXECUTOR_CPUS = 0.1
EXECUTOR_MEM = 32.0
TASK_CPUS = 0.1
TASK_MEM = 32.0
DECLINE_FILTER = {'refuse_seconds': 3600.0}
LAUNCH_FILTER = {'refuse_seconds': 1.0}


def payload_for(task_id):
    return ('payload for %s: \u00e9\u00e8 \x00\x01 end' % task_id).encode('utf-8')


class CustomScheduler(Scheduler):
    def __init__(self, n_tasks):
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.task_ids = ['custom-%d' % i for i in range(n_tasks)]
        self.pending = list(self.task_ids)
        self.executor_agents = set()   # agents where our executor was launched
        self.final = {}
        self.echoed = set()
        self.failures = []
        self.stopping = False

    def executor_info(self):
        executor = Dict()
        executor.executor_id.value = EXECUTOR_ID
        executor.name = 'pymesos compat executor'
        executor.command.value = '%s %s' % (
            shlex.quote(sys.executable), shlex.quote(os.path.join(HERE, 'custom_executor.py')))
        executor.resources = [scalar_resource('cpus', EXECUTOR_CPUS),
                              scalar_resource('mem', EXECUTOR_MEM)]
        return executor

    def registered(self, driver, framework_id, master_info):
        emit('REGISTERED', framework_id['value'])

    def reregistered(self, driver, master_info):
        emit('REREGISTERED')

    def disconnected(self, driver):
        log('disconnected from the master')

    def error(self, driver, message):
        emit('ERROR', message.replace('\n', ' '))
        with self.lock:
            self.failures.append('master sent ERROR: %s' % message)

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                agent_id = offer.agent_id.value
                cpus = scalar(offer, 'cpus')
                mem = scalar(offer, 'mem')
                executor_running = (agent_id in self.executor_agents
                                    or EXECUTOR_ID in [e.get('value') for e in offer.get('executor_ids', [])])
                tasks = []
                while self.pending:
                    need_cpus = TASK_CPUS + (0 if executor_running else EXECUTOR_CPUS)
                    need_mem = TASK_MEM + (0 if executor_running else EXECUTOR_MEM)
                    if cpus < need_cpus - 1e-9 or mem < need_mem - 1e-9:
                        break
                    task_id = self.pending.pop(0)
                    task = Dict()
                    task.task_id.value = task_id
                    task.agent_id.value = agent_id
                    task.name = 'pymesos-compat %s' % task_id
                    task.executor = self.executor_info()
                    task.data = encode_data(payload_for(task_id))
                    task.resources = [scalar_resource('cpus', TASK_CPUS),
                                      scalar_resource('mem', TASK_MEM)]
                    tasks.append(task)
                    cpus -= need_cpus
                    mem -= need_mem
                    executor_running = True
                if tasks:
                    self.executor_agents.add(agent_id)
                    emit('LAUNCH', offer.id.value, *[t.task_id.value for t in tasks])
                    driver.launchTasks(offer.id, tasks, LAUNCH_FILTER)
                else:
                    emit('DECLINE', offer.id.value, DECLINE_FILTER['refuse_seconds'])
                    driver.declineOffer(offer.id, DECLINE_FILTER)

    def statusUpdate(self, driver, status):
        task_id = status.task_id.value
        state = status.state
        emit('UPDATE', task_id, state, 'reason=%s' % (status.get('reason') or '-'),
             'source=%s' % (status.get('source') or '-'),
             'uuid=%s' % ('yes' if 'uuid' in status else 'no'))
        if status.get('message'):
            log('update %s %s: %s' % (task_id, state, status.message))
        with self.lock:
            if task_id not in self.task_ids:
                self.failures.append('update for unknown task %s' % task_id)
                return
            if state in TERMINAL_STATES and task_id not in self.final:
                self.final[task_id] = state
            self._maybe_finish(driver)

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        data = decode_data(message)
        parts = data.split(b':', 2)
        task_id = parts[1].decode('utf-8', 'replace') if len(parts) == 3 else '?'
        good = (len(parts) == 3 and parts[0] == b'echo' and task_id in self.task_ids
                and parts[2] == payload_for(task_id)
                and executor_id.get('value') == EXECUTOR_ID)
        emit('MESSAGE', executor_id.get('value'), agent_id.get('value'), task_id,
             'ok' if good else 'BAD')
        with self.lock:
            if good:
                self.echoed.add(task_id)
            else:
                self.failures.append('unexpected framework message %r from %r' % (data, executor_id))
            self._maybe_finish(driver)

    def executorLost(self, driver, executor_id, agent_id, status):
        log('executor lost: %s (status %s)' % (executor_id.get('value'), status))

    def slaveLost(self, driver, agent_id):
        log('agent lost: %s' % agent_id.get('value'))

    def _maybe_finish(self, driver):
        if self.stopping or self.pending:
            return
        if all(t in self.final for t in self.task_ids) and \
                all(t in self.echoed for t in self.task_ids if self.final[t] == 'TASK_FINISHED'):
            self.stopping = True
            emit('DONE')
            self.done.set()
            driver.stop()

    def report(self):
        ok = True
        with self.lock:
            for task_id in self.task_ids:
                final = self.final.get(task_id, 'NONE')
                good = final == 'TASK_FINISHED' and task_id in self.echoed
                ok = ok and good
                emit('RESULT', task_id, final, 'TASK_FINISHED', 'ok' if good else 'MISMATCH',
                     'message=%s' % ('yes' if task_id in self.echoed else 'no'))
            for f in self.failures:
                emit('FAIL', f.replace('\n', ' '))
            if self.failures:
                ok = False
        return ok


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    master = sys.argv[1]
    n_tasks = int(sys.argv[2])
    watchdog = float(sys.argv[3]) if len(sys.argv) > 3 else 90.0

    sched = CustomScheduler(n_tasks)
    driver = MesosSchedulerDriver(sched, framework_info('pymesos-compat-custom'),
                                  master, use_addict=True)
    finished = run_driver(driver, sched.done, watchdog, 'custom_scheduler')
    ok = sched.report()
    if not finished:
        emit('FAIL', 'the driver stopped before all tasks were terminal')
        ok = False
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
