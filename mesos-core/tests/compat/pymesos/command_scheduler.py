#!/usr/bin/env python3
"""pymesos compatibility scheduler: command tasks (the agent's default command executor).

usage: command_scheduler.py <master host:port> <n_echo_tasks> [watchdog_seconds]

The first offer is declined with a 2 s filter (`refuse_seconds`); the next offer
must not come sooner. Then it launches, through the offers it gets:
  * n tasks `echo-<i>`: `echo hello-$MESOS_TASK_ID; exit 0`   -> expected TASK_FINISHED
  * one task `fail-3`:  `exit 3`                              -> expected TASK_FAILED
  * one task `sleeper`: `sleep 60`, killed once RUNNING       -> expected TASK_KILLED
Offers it does not need afterwards are declined with a long filter. Once the sleeper is
RUNNING it sends an implicit reconciliation (RECONCILE with no tasks) and kills
the sleeper when the reconciliation answer for it arrives (or after 15 s,
recording that the answer never came). Status updates carrying a uuid are
acknowledged by pymesos itself (implicit acknowledgements).

stdout, one line each:
  REGISTERED <framework_id>
  LAUNCH <offer_id> <task_id>...
  DECLINE <offer_id> <refuse_seconds>
  REOFFER <seconds since the first DECLINE>
  UPDATE <task_id> <state> reason=<reason|-> source=<source|-> uuid=<yes|no>
  RECONCILE implicit
  KILL <task_id>
  DONE
  RESULT <task_id> <final_state> <expected_state> <ok|MISMATCH>
  FAIL <reason>            (zero or more)
Exit status 0 only when every task reached its expected terminal state and the
reconciliation was answered; 1 otherwise; 3 on watchdog timeout.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from addict import Dict  # noqa: E402  (pymesos dependency)
from pymesos import MesosSchedulerDriver, Scheduler  # noqa: E402

from common import (TERMINAL_STATES, emit, framework_info, log, run_driver,  # noqa: E402
                    scalar, scalar_resource)

TASK_CPUS = 0.1
TASK_MEM = 32.0
DECLINE_FILTER = {'refuse_seconds': 3600.0}
FIRST_DECLINE_SECONDS = 2.0
LAUNCH_FILTER = {'refuse_seconds': 1.0}
RECONCILE_FALLBACK_SECONDS = 15.0


class CommandScheduler(Scheduler):
    def __init__(self, n_echo):
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.specs = []  # (task_id, shell command, expected terminal state)
        for i in range(n_echo):
            self.specs.append(('echo-%d' % i, 'echo hello-$MESOS_TASK_ID; exit 0', 'TASK_FINISHED'))
        self.specs.append(('fail-3', 'echo about to fail; exit 3', 'TASK_FAILED'))
        self.specs.append(('sleeper', 'sleep 60', 'TASK_KILLED'))
        self.expected = {tid: exp for tid, _, exp in self.specs}
        self.pending = list(self.specs)     # not launched yet
        self.final = {}                     # task_id -> first terminal state
        self.seen = {}                      # task_id -> list of states
        self.failures = []
        self.reconcile_sent = False
        self.reconcile_answered = False
        self.kill_sent = False
        self.stopping = False
        self.first_decline_at = None   # time.monotonic() of the first DECLINE
        self.reoffered = False

    # -- callbacks --------------------------------------------------------
    def registered(self, driver, framework_id, master_info):
        emit('REGISTERED', framework_id['value'])
        log('registered with master %s (version %s)' % (
            '%s:%s' % (master_info.get('hostname'), master_info.get('port')),
            master_info.get('version')))

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
                offer_id = offer.id.value
                if self.first_decline_at is None:
                    # Exercise DECLINE with a filter, and check that the allocator honours it.
                    self.first_decline_at = time.monotonic()
                    emit('DECLINE', offer_id, FIRST_DECLINE_SECONDS)
                    driver.declineOffer(offer.id, {'refuse_seconds': FIRST_DECLINE_SECONDS})
                    continue
                if not self.reoffered:
                    self.reoffered = True
                    waited = time.monotonic() - self.first_decline_at
                    emit('REOFFER', '%.3f' % waited)
                    if waited < FIRST_DECLINE_SECONDS - 0.05:
                        self.failures.append(
                            'offer %s came %.3f s after a DECLINE with refuse_seconds=%.1f' % (
                                offer_id, waited, FIRST_DECLINE_SECONDS))
                cpus = scalar(offer, 'cpus')
                mem = scalar(offer, 'mem')
                tasks = []
                while self.pending and cpus >= TASK_CPUS - 1e-9 and mem >= TASK_MEM - 1e-9:
                    task_id, cmd, _ = self.pending.pop(0)
                    task = Dict()
                    task.task_id.value = task_id
                    task.agent_id.value = offer.agent_id.value
                    task.name = 'pymesos-compat %s' % task_id
                    task.command.value = cmd
                    task.command.shell = True
                    task.resources = [scalar_resource('cpus', TASK_CPUS),
                                      scalar_resource('mem', TASK_MEM)]
                    tasks.append(task)
                    cpus -= TASK_CPUS
                    mem -= TASK_MEM
                if tasks:
                    emit('LAUNCH', offer_id, *[t.task_id.value for t in tasks])
                    driver.launchTasks(offer.id, tasks, LAUNCH_FILTER)
                else:
                    emit('DECLINE', offer_id, DECLINE_FILTER['refuse_seconds'])
                    driver.declineOffer(offer.id, DECLINE_FILTER)

    def offerRescinded(self, driver, offer_id):
        log('offer rescinded: %s' % offer_id.get('value'))

    def statusUpdate(self, driver, status):
        task_id = status.task_id.value
        state = status.state
        reason = status.get('reason') or '-'
        emit('UPDATE', task_id, state, 'reason=%s' % reason,
             'source=%s' % (status.get('source') or '-'),
             'uuid=%s' % ('yes' if 'uuid' in status else 'no'))
        if status.get('message'):
            log('update %s %s: %s' % (task_id, state, status.message))
        with self.lock:
            if task_id not in self.expected:
                self.failures.append('update for unknown task %s' % task_id)
                return
            self.seen.setdefault(task_id, []).append(state)
            is_reconciliation = (reason == 'REASON_RECONCILIATION')

            if state in TERMINAL_STATES and task_id not in self.final:
                self.final[task_id] = state
            elif state in TERMINAL_STATES and self.final[task_id] != state:
                self.failures.append('task %s was %s, then reported %s' % (
                    task_id, self.final[task_id], state))

            if task_id == 'sleeper' and state == 'TASK_RUNNING':
                if not self.reconcile_sent:
                    self.reconcile_sent = True
                    emit('RECONCILE', 'implicit')
                    driver.reconcileTasks([])
                    t = threading.Timer(RECONCILE_FALLBACK_SECONDS, self._reconcile_timeout,
                                        args=(driver,))
                    t.daemon = True
                    t.start()
                elif is_reconciliation:
                    self.reconcile_answered = True
                    self._kill_sleeper(driver)

            self._maybe_finish(driver)

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        log('unexpected framework message from %s' % executor_id.get('value'))

    def slaveLost(self, driver, agent_id):
        log('agent lost: %s' % agent_id.get('value'))

    def executorLost(self, driver, executor_id, agent_id, status):
        log('executor lost: %s (status %s)' % (executor_id.get('value'), status))

    # -- helpers ----------------------------------------------------------
    def _reconcile_timeout(self, driver):
        with self.lock:
            if not self.kill_sent and not self.stopping:
                self.failures.append(
                    'no reconciliation update for the RUNNING task sleeper within %.0f s '
                    'of an implicit RECONCILE' % RECONCILE_FALLBACK_SECONDS)
                self._kill_sleeper(driver)

    def _kill_sleeper(self, driver):
        if self.kill_sent or 'sleeper' in self.final:
            return
        self.kill_sent = True
        emit('KILL', 'sleeper')
        driver.killTask({'value': 'sleeper'})

    def _maybe_finish(self, driver):
        if self.stopping or self.pending:
            return
        if all(tid in self.final for tid in self.expected):
            self.stopping = True
            emit('DONE')
            self.done.set()
            # TEARDOWN is sent by the driver thread once this callback returns
            # (after pymesos has acknowledged this update).
            driver.stop()

    def report(self):
        ok = True
        with self.lock:
            for task_id, _, expected in self.specs:
                final = self.final.get(task_id, 'NONE')
                good = (final == expected)
                ok = ok and good
                emit('RESULT', task_id, final, expected, 'ok' if good else 'MISMATCH')
            if self.reconcile_sent and not self.reconcile_answered:
                ok = False
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
    n_echo = int(sys.argv[2])
    watchdog = float(sys.argv[3]) if len(sys.argv) > 3 else 90.0

    sched = CommandScheduler(n_echo)
    driver = MesosSchedulerDriver(sched, framework_info('pymesos-compat-command'),
                                  master, use_addict=True)
    finished = run_driver(driver, sched.done, watchdog, 'command_scheduler')
    ok = sched.report()
    if not finished:
        emit('FAIL', 'the driver stopped before all tasks were terminal')
        ok = False
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
