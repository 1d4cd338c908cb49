"""One submission's time, across every life of its process.

Each step (a cell, a request) has its own limit, and a step that hangs or
crashes is skipped when the process is started again. Without a bound over the
whole run, restarts multiply the limits; `RunBudget` is that bound: the sum of
all the steps' limits and two set-ups, in wall time and (where the process's
CPU time can be read: runner/cputime.py) in CPU time. It is kept apart from the per-step limits
(parent.py) so that either can change without the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RunBudget:
    wall_seconds: float
    cpu_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)
    #: CPU time of the lives that have ended
    cpu_spent: float = 0.0

    @classmethod
    def for_job(cls, job) -> "RunBudget":
        """What an honest run can use at most: every step's limit once (a step that hangs is skipped
        afterwards, never run again) and two set-ups (the first life and a restart's)."""
        total = (sum(job.cell_time_limit.values()) + sum(job.request_time_limit.values())
                 + 2 * job.setup_time_limit)
        override = getattr(job, "total_time_limit", None)
        if override:
            total = override
        return cls(wall_seconds=total, cpu_seconds=total)

    def deadline(self) -> float:
        return self.started + self.wall_seconds

    def wall_left(self, now: float | None = None) -> float:
        return self.deadline() - (time.monotonic() if now is None else now)

    def cpu_exhausted(self, life_cpu: float | None) -> bool:
        if self.cpu_seconds is None or life_cpu is None:
            return False
        return self.cpu_spent + life_cpu > self.cpu_seconds

    def end_life(self, life_cpu: float | None) -> None:
        if life_cpu is not None:
            self.cpu_spent += life_cpu

    def describe(self, restarts: int) -> str:
        lives = f", across {restarts} restart{'s' if restarts != 1 else ''}" if restarts else ""
        return (f"the submission's process used all the time its questions allow together "
                f"({self.wall_seconds:.0f} s{lives}); grading stopped")
