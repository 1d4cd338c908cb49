# Floods stdout and stderr (tens of MB, binary garbage, no newlines) while being otherwise correct.
import os
import sys

for _ in range(20000):
    sys.stdout.write("flood " * 200 + "\n")
sys.stderr.write("E" * 5_000_000)
os.write(1, bytes(range(256)) * 4000)


# %% p1
def square(x):
    print("still flooding " * 1000)
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
