# Tries to read what a submission must never see: the reference solutions, the problem sets (their
# expected values), another student's file, its own submission file, a file in the grader's home,
# the output folder.
import glob
import os

TARGETS = [
    "@@REPO@@/reference",
    "@@REPO@@/problems",
    "@@REPO@@/tests/fixtures/adversarial/functions.py",
    "@@REPO@@/submissions_example",
    "@@OTHER@@",
    "@@SELF@@",
    "@@OUTPUT@@",
    "@@HOMESECRET@@",
    "/home",
    "/etc/shadow",
    "/etc/hostname",
]
leaked = []
for path in TARGETS:
    try:
        if os.path.isdir(path):
            names = os.listdir(path) + glob.glob(path + "/**/*.py", recursive=True)
            if names:
                leaked.append(path)
            print("LEAK", path, names[:3])
        else:
            with open(path) as f:
                print("LEAK", path, f.read(80))
            leaked.append(path)
    except OSError as exc:
        print("BLOCKED", path, type(exc).__name__)


# %% p1
def square(x):
    return x * x if not leaked else x * x + 1


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
