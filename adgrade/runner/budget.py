"""One submission's time, across every life of its process.

Each step (a cell, a request) has its own limit (CPU time, with a wall-clock
backstop: parent.py), and a step that hangs or crashes is skipped when the
process is started again (once more first if the machine was busy). Without a
bound over the whole run, restarts would multiply the limits; `RunBudget` is
that bound, kept apart from the per-step limits so that either can change
without the other:

- CPU time (where it can be read: runner/cputime.py): twice every step's limit
  and the set-up's, what an honest run can never use (each step is stopped at
  its limit, and runs at most twice);
- wall time, as a backstop only (a busy machine must not change a verdict):
  `backstop_factor` times that, and at least `backstop_extra` seconds more.
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
    def for_job(cls, job, backstop_factor: float = 3.0, backstop_extra: float = 30.0) -> "RunBudget":
        total = getattr(job, "total_time_limit", None) or 2 * (
            sum(job.cell_time_limit.values()) + sum(job.request_time_limit.values()) + job.setup_time_limit)
        return cls(wall_seconds=max(total * backstop_factor, total + backstop_extra), cpu_seconds=total)

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
                f"({self.cpu_seconds or self.wall_seconds:.0f} s{lives}); grading stopped")
