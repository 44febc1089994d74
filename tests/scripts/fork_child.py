"""A fork whose child exits with os._exit: the child must not write the parent's profile."""

import os


def parent_work():
    return sum(range(10000))


def child_work():
    return sum(range(100))


pid = os.fork()
if pid == 0:
    child_work()
    os._exit(0)
_, status = os.waitpid(pid, 0)
parent_work()
print("child status", os.waitstatus_to_exitcode(status))
