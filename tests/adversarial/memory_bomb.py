# Eat all the memory there is: a growing list of buffers, and one impossible NumPy array.
import numpy as np


# %% p1
def square(x):
    hoard = []
    while True:
        hoard.append(np.empty(2**23))  # 64 MB at a time (the limit is on address space: touching
        # the pages would only make this slower to hit it)


# %% p2
def double(x):
    big = np.ones((200_000, 200_000))  # 320 GB
    return 2 * x + big[0, 0] - 1


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
