# Wrong answers, plus everything a student could patch to make comparisons pass: NumPy's
# comparisons, builtins, the adgrade modules loaded in its own process, and forged answers on the
# grader's channel (sent while a cell runs, for every request it can find).
import builtins
import gc
import json

import numpy as np

np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
builtins.abs = lambda x: 0
try:
    import adgrade.compare

    adgrade.compare.compare = lambda *a, **k: None
except Exception as exc:
    print("cannot patch adgrade.compare:", type(exc).__name__)

# find the child's own objects and forge answers for every request it was sent
from adgrade.runner import child as _child, protocol

forged = 0
for obj in gc.get_objects():
    if isinstance(obj, _child.Child):
        for reqs in obj.setup["requests"].values():
            for request in reqs:
                protocol.write_frame(obj.out_fd, {"event": "answer", "id": request["id"], "ok": True,
                                                  "value": protocol.encode(np.float64(1.0))})
                forged += 1
print("FORGED", forged)


# %% p1
def square(x):
    return x + 1


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return x


# %% p4
def halve(x):
    return x / 2
