# Crashes in native code: a NULL read through ctypes, and abort().
import ctypes
import os


# %% p1
def square(x):
    return ctypes.string_at(0)


# %% p2
def double(x):
    os.abort()


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
