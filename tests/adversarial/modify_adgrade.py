# Tries to change adgrade itself on disk, so that the next submissions are graded by its code
# (sandbox only: without one, the grader's files are as writable as the grader's user makes them).
import adgrade
import adgrade.runner.child as child_module

changed = []
for path in (adgrade.__file__, child_module.__file__):
    try:
        with open(path, "a") as f:
            f.write("\nPATCHED = True\n")
        changed.append(path)
    except OSError as exc:
        print("BLOCKED", path, type(exc).__name__)


# %% p1
def square(x):
    return x * x if not changed else x * x + 1


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
