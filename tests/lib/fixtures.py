"""fixtures: small helpers that mxd's dialogue and integration tests used to copy into each file.

mxtest.py is the harness (an mxd Instance, an SMTP Client); this module holds what tests build on it:
polling for a condition, the usual hosted domain, stopping an Instance whatever happens, and a free
privileged port. Nothing here asserts: tests keep their own assertions.
"""
import socket
import time
import unittest


def wait_for(pred, timeout=30, step=0.1):
    """Call pred every step seconds until it returns something true or timeout seconds have passed.

    Returns what pred returned last (so a test may wait for a value, not only a yes): true on success,
    false when time ran out. pred is always called at least once, and once more at the deadline."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def hosted(inst):
    """Make inst host example.com, with info@example.com forwarded to someone@gmail.test: the setup most
    tests start from. Returns inst."""
    inst.mxctl("domain", "add", "example.com")
    inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
    return inst


def stop_and_cleanup(inst):
    """Stop inst (SIGTERM: a clean exit is required, so this may raise) and remove its directory even
    when stopping fails. Accepts None (a setUp that failed before the Instance existed)."""
    if inst is None:
        return
    try:
        inst.stop()
    finally:
        inst.cleanup()


def free_privileged_port(high, low):
    """A port below 1024 free on 127.0.0.1, searched from high down to (not including) low; found by
    binding, so it needs root. Tests that may run at the same time (ctest -j) search disjoint ranges.
    Skips the test when none is free."""
    for port in range(high, low, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise unittest.SkipTest("no free port below 1024 on 127.0.0.1")


def rss_kib(pid):
    """The resident set size of process pid in KiB (0 when /proc does not say)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
