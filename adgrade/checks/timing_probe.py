"""The child's half of the `timing` check kind (checks/timing.py): runs in the submission's process.

`probe_timing` warms each candidate up and compiles it where asked (the first call is excluded),
calibrates a repeat count so that one timed block lasts a few milliseconds, then runs many short
interleaved rounds (A B, B A, ...; every size in every round) within a time budget, blocking on each
result. It returns plain lists of per-call times, which the parent judges.
"""

from __future__ import annotations

import time
from typing import Any

from adgrade.runner import protocol

try:
    import resource as _resource
except ImportError:  # not on Unix: the process clock is the best there is
    _resource = None

TRANSFORMS = ("grad", "jacfwd", "jacrev", "hessian")
MAX_ROUNDS = 400


def _compile(backend: Any, fn: Any) -> Any:
    """The backend's compiler applied to fn, or None when it has none."""
    jit = getattr(backend, "jit", None)
    if callable(jit):
        return jit(fn)
    if backend.name == "jax":
        import jax

        return jax.jit(fn)
    return None


def _has_jax_array(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return any(_has_jax_array(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_jax_array(v, depth + 1) for v in value.values())
    return (type(value).__module__ or "").startswith(("jax", "jaxlib"))


def _blocker(backend: Any, result: Any) -> Any:
    """How to wait for a candidate's result: its backend's, or JAX's when an "any framework" entry
    returned JAX arrays (JAX dispatches asynchronously)."""
    if backend.name != "jax" and _has_jax_array(result):
        import jax

        return jax.block_until_ready
    return backend.block


def _cpu_seconds() -> float:
    """CPU time of the whole process, to the microsecond.

    Not time.process_time(): with an RLIMIT_CPU set (the child has one) Linux reads the
    process clock from the CPU-limit timer, which only advances at scheduler ticks (4 ms).
    getrusage sums the exact run time of every thread.
    """
    r = _resource.getrusage(_resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _missing_entry_class(child: Any) -> type:
    """The child's MissingEntry (its module runs as __main__, so not necessarily adgrade.runner.child's)."""
    import sys

    cls = getattr(sys.modules.get(type(child).__module__), "MissingEntry", None)
    if isinstance(cls, type):
        return cls
    from adgrade.runner.child import MissingEntry

    return MissingEntry


def _failure(child: Any, exc: BaseException, label: str, point: int) -> dict:
    if isinstance(exc, _missing_entry_class(child)):  # a wrapper's sub.NAME the student did not define
        return {"missing": exc.name, "label": label}
    return {"error": child.describe_error(exc), "label": label, "point": point}


def probe_timing(child: Any, *, candidates: list[dict], points: list, budget: float = 1.5,
                 deadline: float = 30.0, target: float | None = None, min_rounds: int = 20,
                 max_rounds: int = MAX_ROUNDS, clock: str = "cpu", test_function: dict | None = None) -> dict:
    """Warm up, calibrate, then time the two candidates in interleaved rounds.

    clock "cpu" (default) measures the CPU time of the whole process (all its threads: JAX computes
    on a thread of its own), which time spent waiting for a core on a busy machine does not inflate;
    "wall" measures elapsed time. The budget and the deadline are always wall time.

    Returns {"times": [[[s per call, one per round] for each candidate] for each input],
    "repeats", "first" (wall seconds of the first, compiling call), "rounds", "notes", "seconds",
    "clock"}, or {"missing": name} / {"error": {...}, "label", "point"} when a candidate cannot run.
    """
    import gc

    from adgrade.backends import get_backend

    MissingEntry = _missing_entry_class(child)
    wall = time.perf_counter
    timer = (_cpu_seconds if _resource is not None else time.process_time) if clock == "cpu" else time.perf_counter
    clock_name = "cpu" if clock == "cpu" else "wall"
    started = wall()
    notes: list[str] = []
    fns, blocks, arg_sets = [], [], []
    for cand in candidates:
        be = get_backend(cand["backend"])
        be.load()
        try:
            fn = child.target(cand.get("entry"), cand.get("wrapper"), be)
        except MissingEntry as exc:
            return {"missing": exc.name, "label": cand["label"]}
        if cand.get("transform"):
            argnums = cand.get("argnums", 0)
            fn = be.transform(cand["transform"], fn, tuple(argnums) if isinstance(argnums, list) else argnums)
        if test_function is not None:
            from adgrade.sent_code import child_function

            # closed over, not an argument: a compiled (jit) candidate takes only arrays
            fn = (lambda f, g: lambda *a: g(f, *a))(child_function(test_function, be), fn)
        fns.append(fn)
        blocks.append(be.block)
        same = [i for i, other in enumerate(candidates[:len(arg_sets)]) if other["backend"] == cand["backend"]]
        # the same input objects for both when they share a backend: no difference in memory layout
        arg_sets.append(arg_sets[same[0]] if same else [be.convert_inputs(protocol.decode(p)) for p in points])

    # warm-up: the first call compiles (jit) or fills caches; it is reported, never judged
    first = [[0.0] * len(points) for _ in candidates]
    for c, cand in enumerate(candidates):
        be = get_backend(cand["backend"])
        plain = fns[c]
        if cand.get("jit"):
            why = ""
            try:
                compiled = _compile(be, plain)
                if compiled is None:
                    why = f"the {be.name} backend has no compiler"
                else:
                    for p, args in enumerate(arg_sets[c]):
                        t0 = wall()
                        blocks[c](compiled(*args))
                        first[c][p] = wall() - t0
                    fns[c] = compiled
            except Exception as exc:  # noqa: BLE001 (the student's function, any error)
                text = str(exc).strip().splitlines()
                why = f"compiling it raised {type(exc).__name__}" + (f": {text[0][:160]}" if text else "")
            if why:
                notes.append(f"{cand['label']} was timed without compiling: {why}")
        if fns[c] is plain:
            for p, args in enumerate(arg_sets[c]):
                try:
                    t0 = wall()
                    result = plain(*args)
                    blocks[c] = _blocker(be, result)
                    blocks[c](result)
                    first[c][p] = wall() - t0
                except BaseException as exc:  # the student's code: SystemExit and all
                    return _failure(child, exc, cand["label"], p)

    n_blocks = len(candidates) * len(points)
    # one timed block lasts about `target`: long enough to average out the timer and short
    # interruptions, short enough for ~50 interleaved rounds within the budget
    if target is None:
        target = min(0.005, max(0.001, budget / (n_blocks * 50)))

    def run(c: int, p: int, reps: int) -> float:
        fn, block, args = fns[c], blocks[c], arg_sets[c][p]
        # one untimed call first: whichever candidate runs first after another input's work would
        # otherwise pay for bringing the data back into the caches
        block(fn(*args))
        t0 = timer()
        for _ in range(reps):
            block(fn(*args))
        return timer() - t0

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        repeats = [[1] * len(points) for _ in candidates]
        for c, cand in enumerate(candidates):
            for p in range(len(points)):
                try:
                    t1 = run(c, p, 1)
                    if t1 < target:  # the clock ticks in microseconds: a faster call may read 0
                        reps = max(1, min(100_000, int(target / max(t1, 1e-6))))
                        t = run(c, p, reps)
                        repeats[c][p] = max(1, min(100_000, round(reps * target / max(t, 1e-6))))
                except BaseException as exc:
                    return _failure(child, exc, cand["label"], p)
        times = [[[] for _ in candidates] for _ in points]
        measure_start = wall()
        rounds = 0
        while rounds < max_rounds:
            # rounds come in pairs, A B then B A, so that whatever the order does cancels out
            if rounds % 2 == 0:
                if rounds >= min_rounds and wall() - measure_start >= budget:
                    break
                if rounds >= 4 and wall() - started >= deadline:
                    notes.append(f"only {rounds} rounds fitted in the time limit (one call takes long)")
                    break
            order = (0, 1) if rounds % 2 == 0 else (1, 0)
            for q in range(len(points)):
                p = (q + rounds // 2) % len(points)  # rotate the order of the sizes
                for c in order:
                    try:
                        t = run(c, p, repeats[c][p])
                    except BaseException as exc:
                        return _failure(child, exc, candidates[c]["label"], p)
                    times[p][c].append(max(t, 1e-12) / repeats[c][p])
            rounds += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"times": times, "repeats": repeats, "first": first, "rounds": rounds, "notes": notes,
            "seconds": wall() - started, "clock": clock_name}
