"""The grader's side of a run: start the submission's process, feed it, watch it.

The parent owns every deadline and every verdict about the process: a cell or
a call that does not finish in time, a process that exits, is killed by a
signal or runs out of memory, each becomes the result of the step that was
running, and the process is started again with that step skipped so that the
remaining questions are still graded.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adgrade.runner import cputime, protocol
from adgrade.runner.budget import RunBudget
from adgrade.runner.limits import Limits, child_environment
from adgrade.runner.schedule import Schedule, expected_frames

#: a step whose process wanted the CPU but did not get it (a busy machine) is stopped on the wall clock
#: only after this many times its limit (and at least BACKSTOP_MIN_EXTRA seconds more than it)
WALL_BACKSTOP_FACTOR = 3.0
BACKSTOP_MIN_EXTRA = 30.0


@dataclass
class CellOutcome:
    index: int
    status: str  # ok | error | timeout | crashed | skipped | tampered
    error: dict | None = None
    message: str = ""
    seconds: float = 0.0  # from cell_start to cell_end, as the parent saw it


@dataclass
class Answer:
    id: str
    status: str  # ok | error | missing | timeout | crashed | not_run | tampered
    value: Any = None
    error: dict | None = None
    message: str = ""
    autodiff_calls: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: which of the student's definitions stood for an entry when it was not the exact name
    #: (plain data from entries.EntryResolver; described by resolve.describe_resolution)
    resolved: list[dict] = field(default_factory=list)


@dataclass
class Job:
    """Everything the child needs, in plain data, and the limits the parent enforces."""

    submission: str
    cells: list[dict]  # code cells: index, source, first_line, label, filename
    schedule: list[tuple[str, Any]]  # ("cell", index) | ("question", id)
    requests: dict[str, list[dict]]  # question id -> requests {id, probe, params}
    backends: list[str]
    cell_time_limit: dict[int, float]
    request_time_limit: dict[str, float]
    setup_time_limit: float = 120.0
    #: dotted names of non-autodiff calls to record (what checks forbid)
    watch: list[str] = field(default_factory=list)
    #: question a cell belongs to (None: setup code)
    cell_question: dict[int, str | None] = field(default_factory=dict)
    #: cell index -> its top-level statements (by position) not to run: nothing a check reads comes from them
    skip_statements: dict[int, list[int]] = field(default_factory=dict)
    #: cell index -> statements that define nothing a check needs: when one hangs or crashes the process,
    #: it is skipped (with a note) and the question keeps its points
    skippable: dict[int, list[int]] = field(default_factory=dict)
    #: cell index -> statement position -> what it is in the student's terms ("your f(...) call (line 12)")
    statement_labels: dict[int, dict[int, str]] = field(default_factory=dict)
    #: the engine's analysis behind the three fields above (never sent to the child)
    slice_plan: Any = field(default=None, repr=False, compare=False)
    #: wall (and CPU) seconds for the whole run, every restart included; None: budget.RunBudget.for_job's
    total_time_limit: float | None = None
    #: question id -> entry -> candidates for it (resolve.plan_entry)
    entries: dict[str, dict[str, dict]] = field(default_factory=dict)
    #: whether the child may stage JAX calls (runner/staging.py)
    stage: bool = True

    def question_of(self, request_id: str) -> str | None:
        for question, requests in self.requests.items():
            if any(r["id"] == request_id for r in requests):
                return question
        return None


@dataclass
class SkippedStatement:
    """A statement that hung or crashed the process, defined nothing a check needs, and was skipped."""

    cell: int
    statement: int
    status: str  # timeout | crashed
    message: str


@dataclass
class RunOutcome:
    answers: dict[str, Answer] = field(default_factory=dict)
    cells: dict[int, CellOutcome] = field(default_factory=dict)
    skipped_statements: list[SkippedStatement] = field(default_factory=list)
    #: steps stopped while the machine was busy and run once more ("cell 16", "q1a/0/2")
    busy_retries: list[str] = field(default_factory=list)
    fatal: str = ""  # the process could not be started at all
    output: str = ""
    output_bytes: int = 0
    restarts: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    #: what the submission's process sent that broke the protocol, for the instructor (empty: nothing)
    tampering: list[str] = field(default_factory=list)
    #: questions whose code broke the protocol -> what it sent: all their checks get 0
    tampered_questions: dict[str, str] = field(default_factory=dict)


class OutputCapture(threading.Thread):
    """Drain the child's stdout/stderr so it can never block; keep the head and the tail."""

    def __init__(self, fd: int, keep: int = 16 * 1024):
        super().__init__(daemon=True)
        self.fd = fd
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if len(self.head) < self.keep:
                take = self.keep - len(self.head)
                self.head += chunk[:take]
                chunk = chunk[take:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.keep:
                    del self.tail[: len(self.tail) - self.keep]
        os.close(self.fd)

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if self.total <= len(self.head) + len(self.tail):
            return head + self.tail.decode("utf-8", "replace")
        skipped = self.total - len(self.head) - len(self.tail)
        return head + f"\n[... {skipped} bytes of output not shown ...]\n" + self.tail.decode("utf-8", "replace")


class ChildHandle:
    """What `_Attempt` needs of a started child: its exit status, and a way to kill all it started.

    `subprocess.Popen` (wrapped by `PopenHandle`) is one; a child forked by a
    fork server, which is not our own child, is another (forkserver_client.ForkedChild).
    """

    pid: int | None

    def poll(self) -> int | None:
        """The return code (negative: killed by that signal), or None while it runs."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit; subprocess.TimeoutExpired when it does not come in time."""
        raise NotImplementedError

    def kill_group(self) -> None:
        """SIGKILL the child's process group (its pid is the group's id); quiet when gone."""
        raise NotImplementedError

    def kill(self) -> None:
        self.kill_group()


class PopenHandle(ChildHandle):
    def __init__(self, proc: subprocess.Popen, *, decode_shell_status: bool = False):
        self.proc = proc
        self.pid = proc.pid
        # bubblewrap's exit code is 128 + N when the child was killed by signal N
        self.decode_shell_status = decode_shell_status

    def _code(self, code: int | None) -> int | None:
        if code is not None and self.decode_shell_status and 128 < code < 128 + 65:
            return -(code - 128)
        return code

    def poll(self) -> int | None:
        return self._code(self.proc.poll())

    def wait(self, timeout: float | None = None) -> int | None:
        return self._code(self.proc.wait(timeout=timeout))

    def kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass


def as_handle(proc: Any) -> ChildHandle:
    return PopenHandle(proc) if isinstance(proc, subprocess.Popen) else proc


class Launcher:
    """Starts one child process for a job. Subclasses add a sandbox or a fork server.

    `start` returns a `subprocess.Popen` or a `ChildHandle`. Optional hooks:
    `prepare(job)` is called once before the first start (a fork server picks
    the frameworks to preload); `scratch_parent` names the folder the runner
    makes the scratch folder in (one the sandbox can see).
    """

    name = "process"
    scratch_parent: str | None = None
    #: added to the child's environment (the factory's choice of JAX compilation cache: runner/sandbox.py)
    extra_env: dict[str, str] | None = None

    def __init__(self, limits: Limits):
        self.limits = limits

    def prepare(self, job: "Job") -> None:
        pass

    def command(self, in_fd: int, out_fd: int, scratch: Path) -> list[str]:
        return [sys.executable, "-I", "-m", "adgrade.runner.child", str(in_fd), str(out_fd),
                "--limits", self.limits.to_arg()]

    def start(self, scratch: Path) -> tuple[subprocess.Popen | ChildHandle, int, int, int]:
        """Return (process, fd to write the setup to, fd to read frames from, fd of its output)."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            proc = subprocess.Popen(
                self.command(to_child_r, from_child_w, scratch),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(to_child_r, from_child_w),
                cwd=scratch,
                env={**child_environment(scratch), **(self.extra_env or {})},
                # its own process group: a timeout kills all it started. No preexec_fn: the child sets
                # its own rlimits first thing, so Popen can vfork (a fork of a JAX-threaded parent warns).
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
            os.close(out_w)
        return proc, to_child_w, from_child_r, out_r


class ProcessRunner:
    """Runs a job to the end, restarting the child past every step that hangs or crashes."""

    def __init__(self, launcher: Launcher | None = None, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.launcher = launcher or Launcher(self.limits)

    def run(self, job: Job) -> RunOutcome:
        outcome = RunOutcome()
        started = time.monotonic()
        skip_cells: set[int] = set()
        skip_statements = {cell: set(stmts) for cell, stmts in job.skip_statements.items()}
        retried: set[str] = set()
        done: set[str] = set()
        questions_of = {q: reqs for q, reqs in job.requests.items()}
        # each step may hang once, and once more when the machine was busy; each skippable statement once
        max_restarts = (2 * (len(job.cell_time_limit) + len(job.request_time_limit)) + 2
                        + sum(len(v) for v in job.skippable.values()))
        captures = []
        prepare = getattr(self.launcher, "prepare", None)
        if prepare is not None:
            prepare(job)
        parent = getattr(self.launcher, "scratch_parent", None)
        # from here: a fork server's start is the grader's time, not the student's
        budget = RunBudget.for_job(job, WALL_BACKSTOP_FACTOR, BACKSTOP_MIN_EXTRA)
        with tempfile.TemporaryDirectory(prefix="adgrade-scratch-", dir=parent, ignore_cleanup_errors=True) as scratch:
            while True:
                state = _Attempt(self, job, Path(scratch), skip_cells, done, outcome, skip_statements, retried,
                                 budget)
                captures.append(state.capture)
                finished = state.go()
                if finished or outcome.fatal:
                    break
                outcome.restarts += 1
                if outcome.restarts > max_restarts:
                    outcome.fatal = "the submission's process failed too many times; grading stopped"
                    break
        for question, reqs in questions_of.items():
            for request in reqs:
                if request["id"] not in outcome.answers:
                    outcome.answers[request["id"]] = Answer(request["id"], "not_run",
                                                            message="not run: " + (outcome.fatal or "the process stopped"))
        outcome.output = "".join(c.text() for c in captures if c.total)[-64 * 1024:]
        outcome.output_bytes = sum(c.total for c in captures)
        outcome.seconds = time.monotonic() - started
        return outcome


class _Attempt:
    """One life of the child process."""

    def __init__(self, runner: ProcessRunner, job: Job, scratch: Path, skip_cells: set[int], done: set[str],
                 outcome: RunOutcome, skip_statements: dict[int, set[int]] | None = None,
                 retried: set[str] | None = None, budget: RunBudget | None = None):
        self.runner = runner
        self.job = job
        self.skip_cells = skip_cells
        self.skip_statements = skip_statements if skip_statements is not None else {}
        self.statement: int | None = None  # the running cell's statement, as the child last said
        self.retried = retried if retried is not None else set()
        self._measure_pid: int | None = None
        self._tree: list[int] = []
        self.limit = job.setup_time_limit
        self.start_usage: cputime.Usage | None = None
        self.done = done
        self.outcome = outcome
        # the frames this life must send, in order: the parent owns the schedule, not the child
        self.schedule = Schedule(expected_frames(job.schedule, job.requests, skip_cells, done))
        self.last_step: tuple[str, Any] | None = None  # ("cell", index) or ("request", id) that ran last
        proc, self.setup_fd, self.frames_fd, out_fd = runner.launcher.start(scratch)
        self.proc: ChildHandle = as_handle(proc)
        self.capture = OutputCapture(out_fd)
        self.capture.start()
        self.reader = protocol.FrameReader()
        self.phase: tuple[str, Any] = ("setup", None)
        self.life_started = self.phase_started = time.monotonic()
        self.deadline = self.phase_started + job.setup_time_limit
        self.start_usage = self._usage()
        # one bound over every life together: restarts do not multiply the time limits
        self.budget = budget or RunBudget.for_job(job, WALL_BACKSTOP_FACTOR, BACKSTOP_MIN_EXTRA)
        self.hard_deadline = self.budget.deadline()
        self.life_cpu: float | None = None

    def go(self) -> bool:
        """True when the child finished its schedule; False when it must be restarted."""
        try:
            self._send_setup()
            return self._watch()
        finally:
            self._kill()
            self.budget.end_life(self.life_cpu)
            os.close(self.frames_fd)
            self.capture.join(timeout=2)

    def _send_setup(self) -> None:
        setup = {
            "submission": self.job.submission,
            "backends": self.job.backends,
            "cells": self.job.cells,
            "schedule": [list(s) for s in self.job.schedule],
            "requests": self.job.requests,
            "skip_cells": sorted(self.skip_cells),
            "skip_statements": {str(c): sorted(s) for c, s in self.skip_statements.items() if s},
            "skip_requests": sorted(self.done),
            "watch": self.job.watch,
            "entries": self.job.entries,
            "stage": self.job.stage,
        }
        try:
            protocol.write_frame(self.setup_fd, setup)
        except (BrokenPipeError, OSError):
            pass  # the child died at once; _watch reports how
        finally:
            os.close(self.setup_fd)

    def _watch(self) -> bool:
        while True:
            now = time.monotonic()
            if now >= self.hard_deadline or self.budget.cpu_exhausted(self._cpu()):
                self._failed("timeout")
                self.outcome.fatal = self.budget.describe(self.outcome.restarts)
                return False
            if now >= self.deadline:
                verdict = self._over_limit(now)
                if verdict is not None:
                    return self._timed_out(*verdict)
            timeout = min(self.deadline, self.hard_deadline) - now
            ready, _, _ = select.select([self.frames_fd], [], [], min(timeout, 1.0))
            if not ready:
                continue
            try:
                chunk = os.read(self.frames_fd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                return self._failed("crashed")
            self.reader.feed(chunk)
            try:
                while True:
                    frame = self.reader.pop(self.schedule.size_limit())
                    if frame is None:
                        break
                    if self._on_frame(frame):
                        return True
            except protocol.ProtocolError as exc:
                return self._tampered(str(exc))

    def _cpu(self) -> float | None:
        """CPU seconds of this life's processes so far (the last reading; None: cannot be measured here)."""
        usage = self._usage()
        if usage is not None:
            self.life_cpu = usage.cpu
        return self.life_cpu

    def _on_frame(self, frame: dict) -> bool:
        """Take the frame due (ProtocolError for any other); True when the child finished its schedule."""
        now = time.monotonic()
        event = self.schedule.accept(frame, now - self.life_started)
        kind, key = event.due.event, event.due.key
        if kind == "ready":
            self.outcome.setup_seconds = max(self.outcome.setup_seconds, event.seconds)
            self._phase(("idle", None), now, self.job.setup_time_limit)
        elif kind == "cell_start":
            self.statement = None
            self._phase(("cell", key), now, self.job.cell_time_limit.get(key, self.job.setup_time_limit))
        elif kind == "statement":
            # which top-level statement of the running cell starts (runner/schedule.py checked it is a later
            # one of this cell): only to name it, or to skip it when it hangs and defines nothing a check needs
            self.statement = key[1]
        elif kind == "cell_end":
            seconds = now - self.phase_started
            self.outcome.cells[key] = CellOutcome(key, "error" if event.error else "ok", event.error, seconds=seconds)
            self.last_step = ("cell", key)
            self._phase(("idle", None), now, self.job.setup_time_limit)
        elif kind == "request_start":
            self._phase(("request", key), now, self.job.request_time_limit.get(key, 10.0))
        elif kind == "answer":
            if event.ok:
                answer = Answer(key, "ok", value=event.value, autodiff_calls=event.autodiff_calls,
                                seconds=event.seconds, resolved=event.resolved)
            else:
                status = "missing" if event.error.get("type") == "MissingEntry" else "error"
                answer = Answer(key, status, error=event.error, autodiff_calls=event.autodiff_calls,
                                seconds=event.seconds, resolved=event.resolved)
            self.outcome.answers[key] = answer
            self.done.add(key)
            self.last_step = ("request", key)
            self._phase(("idle", None), now, self.job.setup_time_limit)
        elif kind == "finished":
            return True
        return False

    def _tampered(self, detail: str) -> bool:
        """The child sent a frame that is not the one due, or a malformed one: the student's code wrote on
        the grader's channel. The question whose code was running gets 0 (every check, answers received
        for it included), its cells and requests are skipped from now on, and the other questions are
        graded on. Never a grader failure. True (stop) when no step can be blamed (before the first)."""
        self._kill()
        kind, key = self.phase
        if kind == "idle" and self.last_step is not None:
            kind, key = self.last_step  # between steps: the code that ran last (a cell or an entry) wrote it
            when = "just after"
        else:
            when = "while"
        if kind == "cell":
            question = self.job.cell_question.get(key)
            where = f"{when} cell {key} ran" + (f" ({question})" if question else " (set-up code)")
        elif kind == "request":
            question = self.job.question_of(key)
            where = f"{when} {question} was being checked ({key})"
        else:
            self.outcome.tampering.append(f"{detail} before any of its code ran")
            for requests in self.job.requests.values():
                for request in requests:
                    self.done.add(request["id"])
            return True
        note = f"{detail} {where}"
        self.outcome.tampering.append(note)
        if kind == "cell":
            self.skip_cells.add(key)
            self.outcome.cells[key] = CellOutcome(key, "tampered", message=note)
        if question is not None:
            self.outcome.tampered_questions.setdefault(question, note)
            for request in self.job.requests.get(question, ()):
                self.done.add(request["id"])
            self.skip_cells.update(i for i, q in self.job.cell_question.items() if q == question)
        return False

    def _phase(self, phase: tuple[str, Any], now: float, limit: float) -> None:
        self.phase = phase
        self.phase_started = now
        self.limit = limit
        self.deadline = now + limit  # the first look at the CPU time: it cannot be over before
        self.start_usage = self._usage()

    # -- limits on the student's CPU time, measured here ---------------------------------------
    def _usage(self, refresh: bool = False) -> cputime.Usage | None:
        """What the child's processes used so far, read from /proc (None: cannot be measured here)."""
        if self._measure_pid is None:
            self._measure_pid = cputime.host_pid(self.proc)
            refresh = True
        if self._measure_pid is None:
            return None
        if refresh or not self._tree:
            self._tree = cputime.descendants(self._measure_pid)
        total, waited = 0.0, 0.0
        found = False
        for pid in self._tree:
            one = cputime.usage_of(pid)
            if one is None:
                continue
            found = True
            total += one.cpu
            waited = None if one.waited is None or waited is None else waited + one.waited
        return cputime.Usage(total, waited) if found else None

    def _over_limit(self, now: float) -> tuple[str, float, float, float | None] | None:
        """("cpu" | "idle" | "busy" | "wall", cpu, wall, waited) when the step must stop, else None (and
        the next look is scheduled). CPU time over the limit is the student's code; a process that sat
        idle is stopped once the limit has passed on the clock; one that wanted the CPU and did not get
        it (a busy machine) only at the wall-clock backstop."""
        wall = now - self.phase_started
        usage = self._usage(refresh=True)
        if usage is None or self.start_usage is None:
            return "wall", 0.0, wall, None
        cpu = usage.cpu - self.start_usage.cpu
        waited = (usage.waited - self.start_usage.waited
                  if usage.waited is not None and self.start_usage.waited is not None else None)
        if waited is None:  # no scheduler statistics: the load average says whether the machine is busy
            waited = max(0.0, wall - cpu) if _machine_busy() else 0.0
        kind = cputime.verdict(self.limit, cpu, wall, waited, backstop_factor=WALL_BACKSTOP_FACTOR,
                               backstop_extra=BACKSTOP_MIN_EXTRA)
        if kind is not None:
            return kind, cpu, wall, waited
        self.deadline = now + min(1.0, max(0.1, self.limit - cpu))
        return None

    def _timed_out(self, kind: str, cpu: float, wall: float, waited: float | None) -> bool:
        """A step over its limit: once more when the machine was busy, else a verdict."""
        busy = kind == "busy" or cputime.was_busy(cpu, wall, waited)
        step = self._step_name()
        if busy and step not in self.retried and self.phase[0] in ("cell", "request"):
            self.retried.add(step)
            self.outcome.busy_retries.append(step)
            self._kill()
            return False  # started again; this step runs once more, nothing skipped
        limit = self.limit
        if kind == "cpu":
            why = (f"did not finish within {limit:.0f} s of CPU time (it used {cpu:.1f} s: an infinite loop, "
                   f"or far too slow)")
        elif kind == "idle":
            why = (f"did not finish within {limit:.0f} s and used only {cpu:.1f} s of CPU: it was waiting "
                   f"(time.sleep, input(), a lock, a download?)")
        elif kind == "busy":
            why = (f"did not finish within {wall:.0f} s on the clock while the machine was busy (it used "
                   f"{cpu:.1f} s of CPU; its limit is {limit:.0f} s of CPU)")
        else:
            why = f"did not finish within {wall:.0f} s (an infinite loop, or far too slow)"
        if busy and step in self.retried:
            why += "; the machine was busy, and it was run twice"
        return self._failed("timeout", why)

    def _step_name(self) -> str:
        kind, key = self.phase
        if kind == "cell":
            return f"cell {key}" + (f" statement {self.statement}" if self.statement is not None else "")
        return str(key) if kind == "request" else kind

    def _failed(self, how: str, detail: str = "") -> bool:
        """The child hung or died in the current phase: record it there, skip it next time."""
        self._kill()
        elapsed = time.monotonic() - self.phase_started
        kind, key = self.phase
        why = detail or self._death_reason(how, elapsed)
        if kind == "setup":
            self.outcome.fatal = f"the submission's process could not start: {why}"
            return False
        if kind == "cell":
            stmt = self.statement
            label = self.job.statement_labels.get(key, {}).get(stmt) if stmt is not None else None
            if label:
                why = f"{label} {why}" if how == "timeout" else f"{label}: {why}"
            if stmt is not None and stmt in self.job.skippable.get(key, ()) and how in ("timeout", "crashed"):
                # it defines nothing a check needs: run everything again without it
                self.skip_statements.setdefault(key, set()).add(stmt)
                self.outcome.skipped_statements.append(SkippedStatement(key, stmt, how, why))
                return False
            self.skip_cells.add(key)
            self.outcome.cells[key] = CellOutcome(key, how, message=why)
            question = self.job.cell_question.get(key)
            if question is not None:
                # its checks would only see half-run definitions: report them with the cell's failure
                for request in self.job.requests.get(question, ()):
                    rid = request["id"]
                    if rid not in self.outcome.answers:
                        self.outcome.answers[rid] = Answer(
                            rid, how, message=f"not run, because the code of {question} was stopped")
                        self.done.add(rid)
            return False
        if kind == "request":
            self.outcome.answers[key] = Answer(key, how, message=why, seconds=elapsed)
            self.done.add(key)
            if how == "timeout":
                # the same check's other inputs would most likely hang too: one time limit per check, not per input
                check = key.rsplit("/", 1)[0]
                for requests in self.job.requests.values():
                    for request in requests:
                        rid = request["id"]
                        if rid.rsplit("/", 1)[0] == check and rid not in self.outcome.answers:
                            self.outcome.answers[rid] = Answer(rid, how, message=f"not run: {why} on an earlier input")
                            self.done.add(rid)
            return False
        # between steps (idle): the process died in grader code or after the student's code ran
        self.outcome.fatal = f"the submission's process stopped unexpectedly: {why}"
        return False

    def _death_reason(self, how: str, elapsed: float) -> str:
        if how == "timeout":
            return f"did not finish within {elapsed:.0f} s (an infinite loop, or far too slow)"
        code = self.proc.poll()
        if code is None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        # the fork server killed it for what all its processes used (runner/forkserver.py: memory, scratch files)
        reason = getattr(self.proc, "reason", "")
        if reason:
            return reason
        return describe_exit(code, self.runner.limits)

    def _kill(self) -> None:
        self._cpu()  # its last reading, while the process is still there
        if self.proc.poll() is None:
            self.proc.kill_group()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        # anything the student left in its process group goes too
        self.proc.kill_group()


def _machine_busy() -> bool:
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:
        return True


def describe_exit(code: int | None, limits: Limits) -> str:
    if code is None:
        return "the process stopped answering"
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hints = {
            "SIGSEGV": "a segmentation fault (a crash in native code, e.g. ctypes or a library bug)",
            "SIGKILL": f"killed (SIGKILL): most often the memory limit of {limits.memory_mb} MB, or it killed itself",
            "SIGXCPU": f"the CPU-time limit of {limits.cpu_seconds} s",
            "SIGXFSZ": f"a file larger than {limits.file_size_mb} MB was written",
            "SIGABRT": "aborted (SIGABRT): a native library gave up, often out of memory",
        }
        return f"the process was killed by {name}: " + hints.get(name, "it was killed by a signal")
    if code == 0:
        return "the process exited early (exit code 0: os._exit() or exit() outside a cell?)"
    return f"the process exited early with exit code {code} (os._exit() or a fatal error)"
