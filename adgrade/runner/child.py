"""The submission's side: runs in its own (untrusted) process.

It executes the student's cells in order and, when a question's last cell has
run, answers that question's requests (call an entry on inputs, possibly
differentiated by the backend) with plain data. It never sees expected values
and decides nothing: the parent judges.

Started as `python -I -m adgrade.runner.child READ_FD WRITE_FD` (or by a fork
server calling `serve`). Protocol: one setup frame in, a stream of event
frames out (see protocol.py).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
import sys
import textwrap
import time
import traceback
from typing import Any, Callable

from adgrade.runner.entries import EntryResolver, MissingEntry, SignatureMismatch
from adgrade.runner import protocol

__all__ = ["Child", "MissingEntry", "StudentNamespace", "serve", "main"]

#: autodiff calls the student's code made while a request was being answered
_recorded: list[str] = []
_recording = False


def _record(name: str) -> None:
    """Each distinct call once (a loop of 1000 grads must not crowd out a later jvp), and each call made
    inside another recorded call also as "outer>inner" (what `require = ["forward-over-reverse"]` reads)."""
    if not _recording:
        return
    from adgrade.backends import active_probes

    for item in (name, *(f"{outer}>{name}" for outer in dict.fromkeys(active_probes()))):
        if item not in _recorded and len(_recorded) < 100:
            _recorded.append(item)


#: callers inside these packages are the frameworks themselves, not the student
FRAMEWORK_PREFIXES = ("numpy", "autograd", "jax", "jaxlib", "torch", "scipy", "math")


class StudentNamespace:
    """`sub` in wrappers: attribute access to what the student defined (entries resolved as for a call)."""

    def __init__(self, resolver: EntryResolver):
        object.__setattr__(self, "_resolver", resolver)

    def __getattr__(self, name: str) -> Any:
        return object.__getattribute__(self, "_resolver").lookup(name)

    def __contains__(self, name: str) -> bool:
        return object.__getattribute__(self, "_resolver").has(name)


def forbid_python_fork() -> None:
    """A copy of this process made by the student's os.fork() (or multiprocessing's fork) ends at once:
    a forked copy of a JAX process deadlocks, and copies that live on would take the process quota
    the rest of the grading needs. exec-based subprocesses are unaffected."""
    os.register_at_fork(after_in_child=lambda: os._exit(0))


class Child:
    def __init__(self, setup: dict, out_fd: int):
        self.setup = setup
        self.out_fd = out_fd
        self.pid = os.getpid()
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.cells = {c["index"]: c for c in setup["cells"]}
        self.filenames = {self._filename(c) for c in setup["cells"]}
        self.skip_cells = set(setup.get("skip_cells", ()))
        #: cell index (a string: JSON) -> positions of its top-level statements not to run
        self.skip_statements = {str(k): set(v) for k, v in (setup.get("skip_statements") or {}).items()}
        self.skip_requests = set(setup.get("skip_requests", ()))
        #: adgrade's own source files: never shown as the place an error was raised
        self.grader_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.resolver = EntryResolver(self.namespace, setup.get("entries") or {})
        self.stage = bool(setup.get("stage", True))
        #: (entry, wrapper, transform) whose staged call traced into too large a program
        self.too_large: set[tuple] = set()

    # -- messages ---------------------------------------------------------------
    def after_student_code(self) -> None:
        """A copy made by the student's os.fork() ends here, before it touches a framework (JAX deadlocks
        in a forked copy) or the pipe; finished children are reaped so they stop counting as processes."""
        if os.getpid() != self.pid:
            os._exit(0)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    def send(self, message: dict) -> None:
        if os.getpid() != self.pid:
            # a copy made by the student's os.fork() returned into grader code: it must never speak
            os._exit(0)
        protocol.write_frame(self.out_fd, message)

    # -- set-up -------------------------------------------------------------------
    def prepare(self) -> None:
        t0 = time.perf_counter()
        forbid_python_fork()
        if os.environ.get("ADGRADE_JAX_CACHE_READONLY"):
            # the sandbox mounts JAX's compilation cache read-only: reads hit, writes fail, and must not warn
            import warnings

            warnings.filterwarnings("ignore", message="Error writing persistent compilation cache entry")
        from adgrade.backends import get_backend, install_all_probes

        for name in self.setup.get("backends", ()):
            get_backend(name).load()
        install_all_probes(_record)
        watch = [name.rpartition(".") for name in self.setup.get("watch", ())]
        if watch:
            from adgrade.backends import install_probe_targets

            # calls a check forbids that are not autodiff (e.g. numpy.cos in a Taylor series)
            install_probe_targets([(m, a) for m, _, a in watch if m], _record, FRAMEWORK_PREFIXES)
        self.send({"event": "ready", "seconds": time.perf_counter() - t0})

    # -- the schedule ---------------------------------------------------------------
    def run(self) -> None:
        self.prepare()
        for step in self.setup["schedule"]:
            kind, key = step
            if kind == "cell":
                if key not in self.skip_cells:
                    self.run_cell(self.cells[key])
            else:
                self.resolver.start_question(key)
                for request in self.setup["requests"].get(key, ()):
                    if request["id"] not in self.skip_requests:
                        self.answer(request)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # the student replaced or closed it
                pass
        self.send({"event": "finished"})

    def _filename(self, cell: dict) -> str:
        return cell.get("filename") or f"<cell {cell['index']}>"

    def run_cell(self, cell: dict) -> None:
        self.send({"event": "cell_start", "index": cell["index"]})
        error = None
        try:
            # leading newlines keep the file's line numbers in tracebacks
            code = compile("\n" * (cell["first_line"] - 1) + cell["source"], self._filename(cell), "exec")
        except SyntaxError as exc:
            error = {"type": type(exc).__name__, "message": exc.msg or str(exc), "line": exc.lineno,
                     "text": (exc.text or "").rstrip()[:200], "traceback": ""}
        except (MemoryError, RecursionError, ValueError) as exc:
            # nested too deeply for Python's parser (`x = ----...1`), or a null byte: a syntax error too
            error = {"type": "SyntaxError", "line": cell["first_line"], "text": "", "traceback": "",
                     "message": ("source code cannot contain null bytes" if isinstance(exc, ValueError) else
                                 "this code is nested too deeply for Python to compile "
                                 f"({type(exc).__name__}); write the expression in simpler steps")}
        else:
            try:
                self.run_statements(cell)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt are the student's too
                error = self.describe_error(exc)
            finally:
                self.after_student_code()
        self.send({"event": "cell_end", "index": cell["index"], "error": error})

    def run_statements(self, cell: dict) -> None:
        """Run a cell one top-level statement at a time (as Jupyter would run it whole: the first
        exception ends the cell), telling the grader which one starts, and leaving out the ones the
        checks do not need. The whole cell was compiled first, so a syntax error anywhere runs nothing."""
        import __future__

        filename = self._filename(cell)
        tree = ast.parse("\n" * (cell["first_line"] - 1) + cell["source"], filename, "exec")
        skip = self.skip_statements.get(str(cell["index"]), set())
        flags = 0
        for position, node in enumerate(tree.body):
            if position in skip:
                continue
            self.send({"event": "statement", "index": cell["index"], "stmt": position})
            code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec", flags=flags)
            exec(code, self.namespace)
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                for alias in node.names:
                    feature = getattr(__future__, alias.name, None)
                    flags |= getattr(feature, "compiler_flag", 0)

    # -- requests ------------------------------------------------------------------
    def answer(self, request: dict) -> None:
        global _recording
        self.send({"event": "request_start", "id": request["id"]})
        probe = resolve_probe(request.get("probe", "call"))
        _recorded.clear()
        self.resolver.used = []
        started = time.perf_counter()
        reply: dict[str, Any] = {"event": "answer", "id": request["id"]}
        try:
            _recording = True
            try:
                value = probe(self, **request.get("params", {}))
            finally:
                _recording = False
                self.after_student_code()
            reply.update(ok=True, value=protocol.encode(value, max_items=protocol.MAX_ITEMS))
        except MissingEntry as exc:
            reply.update(ok=False, error={"type": "MissingEntry", "message": exc.name, "traceback": "",
                                          "defined": [str(d)[:200] for d in exc.defined[:12]]})
        except SignatureMismatch as exc:
            reply.update(ok=False, error={"type": "SignatureMismatch", "message": str(exc)[:2000], "traceback": "",
                                          "entry": exc.entry, "signature": exc.signature[:200]})
        except BaseException as exc:
            reply.update(ok=False, error=self.describe_error(exc))
        reply["seconds"] = time.perf_counter() - started
        reply["autodiff_calls"] = sorted(set(_recorded))
        if reply.get("ok") and protocol.frame_size(reply) > protocol.MAX_ANSWER_FRAME - 4096:
            # the parent reads no larger frame: say what it was instead
            reply["value"] = {"__opaque__": "answer", "reason": f"too large to return (more than "
                                                              f"{protocol.MAX_ANSWER_FRAME // 2**20} MB)"}
        if self.resolver.used:
            reply["resolved"] = self.resolver.used[:8]
        self.send(reply)

    def describe_error(self, exc: BaseException) -> dict:
        """The exception in the student's terms: type, message, the student's line, their frames."""
        frames = traceback.extract_tb(exc.__traceback__)
        student = [f for f in frames if f.filename in self.filenames]
        line = student[-1].lineno if student else None
        where = student[-1].filename if student else None
        try:
            message = str(exc)
        except Exception:
            message = "(the exception's message could not be read)"
        if isinstance(exc, SystemExit):
            message = f"exit code {exc.code!r}"
        lines = traceback.format_list(student[-6:])
        # where it was raised, if not in the student's own line: a framework's file, never adgrade's
        outside = [f for f in frames if f.filename not in self.filenames and not self.is_grader_frame(f)]
        last = frames[-1] if frames else None
        if last is not None and (not student or last is not student[-1]) and outside and last is outside[-1]:
            lines.append(f"  ... raised inside {os.path.basename(last.filename)}, line {last.lineno}, in {last.name}\n")
        described = {"type": type(exc).__name__[:200], "message": message[:2000], "line": line, "cell": where,
                     "traceback": "".join(lines)[-4000:]}
        # raised in the problem set's own code (a wrapper or test function sent by source), below the student's
        # last frame: the parent tells a bug of the problem set from the student's error
        last_student = max((i for i, f in enumerate(frames) if f.filename in self.filenames), default=-1)
        own = [(i, f) for i, f in enumerate(frames) if f.filename.startswith("<adgrade ")]
        if own and own[-1][0] > last_student:
            described["problem_set"] = {"function": own[-1][1].name, "line": own[-1][1].lineno,
                                        "called_by_student": last_student >= 0}
        return described

    def stageable(self, fn: Callable) -> bool:
        """Whether a call of `fn` (a target) may be traced as one program (runner/staging.py)."""
        from adgrade.runner.staging import stageable

        wrapper = getattr(fn, "__adgrade_wrapper__", None)
        if wrapper is not None:
            return stageable(wrapper, self.filenames, self.resolver.lookup)
        return stageable(fn, self.filenames)

    def is_grader_frame(self, frame: traceback.FrameSummary) -> bool:
        name = frame.filename
        return name.startswith("<adgrade") or os.path.abspath(name).startswith(self.grader_dir + os.sep)

    # -- helpers for probes --------------------------------------------------------------
    def target(self, entry: str | None, wrapper: dict | None, backend: Any) -> Callable:
        if wrapper is not None:
            fn = load_wrapper(wrapper, backend)
            sub = StudentNamespace(self.resolver)
            call = lambda *args: fn(backend.xp, sub, *args)  # noqa: E731
            call.__adgrade_wrapper__ = fn  # type: ignore[attr-defined]
            return call
        if entry is None:
            raise ValueError("a request needs an entry or a wrapper")
        return self.resolver.lookup(entry)


def load_wrapper(wrapper: dict, backend: Any) -> Callable:
    """Define a problem-set function from its source alone (never the whole functions.py)."""
    namespace: dict[str, Any] = {"__builtins__": builtins, "ad": backend, "__name__": "adgrade_wrapper"}
    exec(compile(textwrap.dedent(wrapper["source"]), f"<adgrade {wrapper['name']}>", "exec"), namespace)
    return namespace[wrapper["name"]]


# -- probes: what a request can ask --------------------------------------------------

def probe_call(child: Child, *, backend: str | list, args: Any, entry: str | None = None, wrapper: dict | None = None,
               transform: str | None = None, argnums: int | list = 0, order: int = 1, kwargs: Any = None,
               test_function: dict | None = None) -> Any:
    """Call the student's entry (or a wrapper around their entries) on converted inputs; a test function
    (sent by its source) comes first: `hvp(f, x, v)`."""
    from adgrade.backends import get_backend

    if isinstance(backend, list):  # the student may use any of these: the one their entry is written in
        from adgrade.backend_choice import choose

        backend = choose(child.target(entry, None, get_backend(backend[0])), backend) if entry else backend[0]
    be = get_backend(backend)
    fn = child.target(entry, wrapper, be)
    stage = child.stage and be.name == "jax" and child.stageable(fn)
    if transform:
        fn = be.transform(transform, fn, tuple(argnums) if isinstance(argnums, list) else argnums, order)
    call_args = be.convert_inputs(protocol.decode(args))
    if test_function is not None:
        from adgrade.sent_code import child_function

        call_args = [child_function(test_function, be), *call_args]
    call_kwargs = be.convert_inputs(protocol.decode(kwargs)) if kwargs else {}
    subject = (entry, (wrapper or {}).get("name"), transform)
    if stage and subject not in child.too_large:
        from adgrade.runner.staging import TooLarge, staged_call

        try:
            return staged_call(be.jax, fn, call_args, call_kwargs)
        except TooLarge:  # an unrolled loop: its later calls run eagerly at once, without tracing first
            child.too_large.add(subject)
        except Exception:  # noqa: BLE001 - anything tracing cannot do: the eager run below decides
            pass
    return be.block(fn(*call_args, **call_kwargs))


def probe_defined(child: Child, *, names: list[str]) -> Any:
    """Which of these names the student has defined (for optional checks and starters)."""
    return [child.resolver.has(name) for name in names]


PROBES: dict[str, Callable] = {"call": probe_call, "defined": probe_defined}


def resolve_probe(name: str) -> Callable:
    if name in PROBES:
        return PROBES[name]
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- entry point ------------------------------------------------------------------------

def _unbuffered_stdio() -> None:
    """Unbuffered stdout and stderr, like `python -u` (`-I` ignores PYTHONUNBUFFERED): what the student
    printed is in the pipe before the next frame, so a crash, or the grader's kill once the work is
    finished, never loses it."""
    import io

    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        try:
            old.flush()
            stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=old.encoding or "utf-8",
                                      errors=old.errors or "strict", write_through=True)
        except (AttributeError, OSError, ValueError):
            continue
        setattr(sys, name, stream)


#: the channel to the grader is moved up to here (or just under the open-files limit), out of the way of the
#: student's own files
HIGH_FD = 900


def hide_channel(out_fd: int) -> int:
    """Move the frames pipe to a high, close-on-exec descriptor: a student's file or subprocess never lands
    on it by accident. Not a defence (code in this process can find any descriptor); the parent's
    schedule is (runner/schedule.py)."""
    import fcntl
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(HIGH_FD, soft - 16) if soft > 0 else HIGH_FD
    try:
        if target <= out_fd:
            raise OSError("no room above it")
        high = fcntl.fcntl(out_fd, fcntl.F_DUPFD_CLOEXEC, target)
    except OSError:  # a low RLIMIT_NOFILE: keep it where it is, close-on-exec
        os.set_inheritable(out_fd, False)
        return out_fd
    os.close(out_fd)
    return high


def serve(in_fd: int, out_fd: int) -> None:
    _unbuffered_stdio()
    setup = protocol.read_frame_blocking(in_fd)
    os.close(in_fd)
    Child(setup, hide_channel(out_fd)).run()


def main(argv: list[str]) -> int:
    in_fd, out_fd = int(argv[0]), int(argv[1])
    if "--uid" in argv:  # the sandbox, run as root: an unprivileged user id first (see limits.drop_privileges)
        from adgrade.runner.limits import drop_privileges

        uid, _, gid = argv[argv.index("--uid") + 1].partition(":")
        drop_privileges(int(uid), int(gid or uid))
    if "--limits" in argv:
        from adgrade.runner.limits import Limits, set_child_limits

        set_child_limits(Limits.from_arg(argv[argv.index("--limits") + 1]))
    serve(in_fd, out_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: student threads or atexit hooks must not hold the report hostage.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
