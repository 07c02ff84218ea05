"""Helpers shared by the pymesos compatibility scripts (not part of pymesos).

Every line a script prints on stdout is machine-readable: `<KEYWORD> <args...>`,
parsed by mesos-core/tests/pymesos.rs. Diagnostics go to stderr.
"""
import getpass
import os
import socket
import sys
import threading

TERMINAL_STATES = frozenset([
    'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
    'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
])

_print_lock = threading.Lock()


def emit(*words):
    """Print one machine-readable line on stdout and flush it."""
    with _print_lock:
        sys.stdout.write(' '.join(str(w) for w in words) + '\n')
        sys.stdout.flush()


def log(msg):
    with _print_lock:
        sys.stderr.write('[%s] %s\n' % (os.path.basename(sys.argv[0]), msg))
        sys.stderr.flush()


def start_watchdog(seconds, what):
    """Exit the whole process with status 3 if it is still running after `seconds`."""
    def fire():
        log('WATCHDOG: %s did not finish within %.0f s' % (what, seconds))
        emit('TIMEOUT', what)
        os._exit(3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def framework_info(name):
    """A FrameworkInfo dict the way a pymesos user writes it."""
    return {
        'user': getpass.getuser(),
        'name': name,
        'hostname': socket.gethostname(),
    }


def scalar(offer, name):
    """Sum of the unreserved scalar resource `name` in an offer dict."""
    total = 0.0
    for r in offer.get('resources', []):
        if r.get('name') == name and r.get('type') == 'SCALAR':
            total += float(r['scalar']['value'])
    return total


def scalar_resource(name, value):
    return {'name': name, 'type': 'SCALAR', 'scalar': {'value': value}}


def run_driver(driver, done, watchdog_seconds, what):
    """Start `driver`, wait until the `done` event is set or the driver stops
    (an exception in the driver thread stops it), then join it.

    Waiting in short slices keeps the main thread responsive to the
    KeyboardInterrupt pymesos raises in it when its I/O thread aborts.
    Returns True if `done` was set, False if the driver stopped first.
    """
    start_watchdog(watchdog_seconds, what)
    driver.start()
    try:
        while not done.wait(0.2):
            if driver.aborted:
                break
    except KeyboardInterrupt:
        log('the pymesos driver thread aborted (see the traceback above)')
        return False
    try:
        driver.join()
    except KeyboardInterrupt:
        log('the pymesos driver thread aborted while stopping (see the traceback above)')
        return False
    return done.is_set()
