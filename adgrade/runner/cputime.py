"""What the submission's process used, read by the grader itself from /proc (never taken from the child).

Time limits judge the student's code, not the machine: a step is too slow when
the student's processes used more CPU time than its limit. The scheduler's
run-queue wait (/proc/PID/task/TID/schedstat) tells a busy machine (the
process wanted to run and could not) from a process that waits on purpose
(sleep, a lock, input): the first gets a generous wall-clock backstop and one
retry, the second is stopped once its limit has passed on the wall clock.

Linux only; elsewhere `usage` returns None and the runner falls back to the
wall clock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Usage:
    cpu: float  # seconds on a CPU: user + system, of every process in the tree, reaped children included
    waited: float | None  # seconds spent ready to run but waiting for a CPU (None: not known)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of one process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces or ')': split after the last ')'
    fields = data[data.rfind(b")") + 2:].split()
    try:
        ppid = int(fields[1])
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    except (IndexError, ValueError):
        return None
    return ppid, (utime + stime + cutime + cstime) / _TICKS


def _waited(pid: int) -> float | None:
    total = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total


def descendants(root: int) -> list[int]:
    """`root` and every process below it (by parent pid)."""
    parents: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [root]
    for name in names:
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None:
            parents.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, ()))
    return out


def usage_of(pid: int) -> Usage | None:
    """One process (all its threads, its reaped children)."""
    st = _stat(pid)
    if st is None:
        return None
    return Usage(st[1], _waited(pid))


def usage(root: int | None) -> Usage | None:
    """CPU time and run-queue wait of a process and all its descendants; None when it cannot be read."""
    if root is None or not os.path.exists(f"/proc/{root}/stat"):
        return None
    cpu = 0.0
    waited: float | None = 0.0
    for pid in descendants(root):
        st = _stat(pid)
        if st is None:
            continue
        cpu += st[1]
        w = _waited(pid)
        waited = None if w is None or waited is None else waited + w
    return Usage(cpu, waited)


def host_pid(handle: object) -> int | None:
    """The pid (as this process sees it) to measure a started child by.

    A Popen child is measured by its own pid (with bubblewrap: bwrap's, the student's process below
    it). A fork server's child inside the sandbox's pid namespace reports its pid there: it is found
    below the server by the last entry of NSpid in /proc/PID/status.
    """
    pid = getattr(handle, "pid", None)
    server = getattr(handle, "server", None)
    if server is None or getattr(server, "same_pid_namespace", True):
        return pid if isinstance(pid, int) else None
    proc = getattr(server, "proc", None)
    if pid is None or proc is None:
        return None
    for candidate in descendants(proc.pid):
        try:
            with open(f"/proc/{candidate}/status") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        if line.split()[-1] == str(pid):
                            return candidate
                        break
        except OSError:
            continue
    return None


def verdict(limit: float, cpu: float, wall: float, waited: float | None, *, backstop_factor: float = 3.0,
            backstop_extra: float = 30.0) -> str | None:
    """Whether a step that has run `wall` seconds, used `cpu` seconds of CPU and waited `waited` seconds for
    one must stop: "cpu" (its code used its limit), "idle" (the limit has passed on the clock and it was
    not trying to run: sleep, a lock, input), "busy" (it wanted the CPU and the machine did not give it,
    up to the wall-clock backstop), or None (let it run)."""
    if cpu >= limit:
        return "cpu"
    if wall < limit:
        return None
    if cpu + (waited or 0.0) < 0.5 * wall:
        return "idle"
    if wall >= max(limit * backstop_factor, limit + backstop_extra):
        return "busy"
    return None


def was_busy(cpu: float, wall: float, waited: float | None) -> bool:
    """The machine, not the code, made the step slow: it waited for a CPU more than half as long as it ran."""
    return waited is not None and waited > 0.5 * max(cpu, 1e-9) and wall > 1.5 * cpu
