# Every way to leave early: os._exit in an entry, sys.exit at the end of a cell, SIGKILL of itself.
import os
import signal
import sys


# %% p1
def square(x):
    os._exit(0)


# %% p2
def double(x):
    return 2 * x


sys.exit(3)


# %% p3
def negate(x):
    os.kill(os.getpid(), signal.SIGKILL)


# %% p4
def halve(x):
    return x / 2
