#!/usr/bin/env python3
"""pymesos compatibility executor, launched by custom_scheduler.py.

Runs under the agent with the executor environment (MESOS_AGENT_ENDPOINT,
MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, ...) and talks to /api/v1/executor through
pymesos.MesosExecutorDriver. For every task it:
  1. sends TASK_RUNNING,
  2. sends a framework message `echo:<task_id>:<decoded task data>` (base64),
  3. sends TASK_FINISHED.
A KILL makes it send TASK_KILLED. It exits when the agent shuts it down.
Diagnostics go to stderr (the sandbox's stderr file).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from addict import Dict  # noqa: E402
from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data  # noqa: E402

from common import log  # noqa: E402


class EchoExecutor(Executor):
    def __init__(self):
        self.lock = threading.Lock()
        self.killed = set()

    def registered(self, driver, executor_info, framework_info, agent_info):
        log('registered: executor %s of framework %s on agent %s' % (
            executor_info.executor_id.value, framework_info.id.value,
            agent_info.get('hostname')))

    def reregistered(self, driver, agent_info):
        log('re-registered with agent %s' % agent_info.get('hostname'))

    def disconnected(self, driver):
        log('disconnected from the agent')

    def launchTask(self, driver, task):
        # Work in a thread so the driver keeps reading events meanwhile.
        t = threading.Thread(target=self._run_task, args=(driver, task), daemon=True)
        t.start()

    def _status(self, task, state, **extra):
        status = Dict()
        status.task_id = task.task_id
        status.state = state
        status.timestamp = time.time()
        for k, v in extra.items():
            status[k] = v
        return status

    def _run_task(self, driver, task):
        task_id = task.task_id.value
        try:
            driver.sendStatusUpdate(self._status(task, 'TASK_RUNNING'))
            payload = decode_data(task.get('data', ''))
            reply = b'echo:' + task_id.encode() + b':' + payload
            driver.sendFrameworkMessage(encode_data(reply))
            log('task %s: echoed %d bytes of data' % (task_id, len(payload)))
            with self.lock:
                if task_id in self.killed:
                    return
            driver.sendStatusUpdate(self._status(task, 'TASK_FINISHED',
                                                 message='echoed the task data'))
        except Exception as e:  # report instead of dying silently
            log('task %s failed: %r' % (task_id, e))
            try:
                driver.sendStatusUpdate(self._status(task, 'TASK_FAILED', message=repr(e)))
            except Exception as e2:
                log('could not report the failure: %r' % (e2,))

    def killTask(self, driver, task_id):
        with self.lock:
            self.killed.add(task_id.value)
        status = Dict()
        status.task_id = task_id
        status.state = 'TASK_KILLED'
        status.timestamp = time.time()
        driver.sendStatusUpdate(status)

    def frameworkMessage(self, driver, message):
        log('framework message: %r' % decode_data(message))

    def shutdown(self, driver):
        log('shutdown requested')

    def error(self, driver, message):
        log('error from the agent: %s' % message)


def main():
    for var in ('MESOS_AGENT_ENDPOINT', 'MESOS_FRAMEWORK_ID', 'MESOS_EXECUTOR_ID'):
        if not os.environ.get(var):
            log('missing executor environment variable %s' % var)
            return 2
    log('starting: agent %s, framework %s, executor %s' % (
        os.environ['MESOS_AGENT_ENDPOINT'], os.environ['MESOS_FRAMEWORK_ID'],
        os.environ['MESOS_EXECUTOR_ID']))
    driver = MesosExecutorDriver(EchoExecutor(), use_addict=True)
    driver.run()
    log('driver stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
