# Returns things that are not arrays: a string, a generator, an object that raises on every method,
# and an array far too large to send back.
import numpy as np


class Hostile:
    def __getattribute__(self, name):
        raise RuntimeError("no " + name)

    def __repr__(self):
        raise RuntimeError("no repr")

    def __array__(self, *a, **k):
        raise RuntimeError("no array")

    def __len__(self):
        raise RuntimeError("no len")

    def __iter__(self):
        raise RuntimeError("no iter")

    def __float__(self):
        raise RuntimeError("no float")

    def __eq__(self, other):
        raise RuntimeError("no eq")

    __hash__ = None


# %% p1
def square(x):
    return "x squared"


# %% p2
def double(x):
    return (2 * v for v in np.atleast_1d(x))


# %% p3
def negate(x):
    return Hostile()


# %% p4
def halve(x):
    return np.broadcast_to(np.float64(0.5), (200_000, 200_000))  # 320 GB, without allocating it
