# The set-up code hangs before any question: waiting forever on an event nobody sets.
import threading

threading.Event().wait()

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
    return x / 2
