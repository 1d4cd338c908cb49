# Tries to write outside its own scratch folder: into adgrade, the problem sets, the grader's /tmp,
# /etc, /usr, the output folder; writing its own folder (the working folder, HOME, TMPDIR) is fine.
import os
import tempfile

OUTSIDE = [
    "@@REPO@@/adgrade/runner/evil.py",
    "@@REPO@@/problems/evil.toml",
    "@@OUTPUT@@/evil.json",
    "/tmp/adgrade-evil-@@TOKEN@@",
    "/etc/evil",
    "/usr/evil",
    "/evil",
]
wrote = []
for path in OUTSIDE:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        wrote.append(path)
        print("WROTE", path)
    except OSError as exc:
        print("BLOCKED", path, type(exc).__name__)
own = []
for path in ("mine.txt", os.path.join(os.environ["HOME"], "home.txt"), os.path.join(tempfile.gettempdir(), "t.txt")):
    with open(path, "w") as f:
        f.write("ok")
    own.append(path)
print("OWN", len(own))


# %% p1
def square(x):
    return x * x if not wrote and len(own) == 3 else x * x + 1


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
