"""Resource limits and the environment of the submission's process."""

from __future__ import annotations

import os
import platform
import resource
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # address space; JAX and torch start well inside 2 GB
    cpu_seconds: int = 600  # whole process, all questions together
    file_size_mb: int = 64
    processes: int = 256  # RLIMIT_NPROC (tasks: threads count): Linux ignores it for root, so the sandbox
    #                       runs children as an unprivileged user id (runner/sandbox.py)
    open_files: int = 256
    threads: int = 1  # BLAS / OpenMP / XLA threads: results and timings reproducible, batches parallel

    def to_arg(self) -> str:
        return ",".join(str(v) for v in (self.memory_mb, self.cpu_seconds, self.file_size_mb, self.processes,
                                          self.open_files, self.threads))

    @classmethod
    def from_arg(cls, text: str) -> "Limits":
        return cls(*(int(v) for v in text.split(",")))


def set_child_limits(limits: Limits) -> None:
    """Applied by the child to itself before any student code runs (and before frameworks load)."""
    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # the hard limit too: a soft one alone, the student's code could raise again
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits.memory_mb * 2**20)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, limits.file_size_mb * 2**20)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0:
        cap(resource.RLIMIT_NPROC, limits.processes)


def drop_privileges(uid: int, gid: int) -> None:
    """Become an unprivileged user id (the sandbox, run as root): no capabilities left, and
    RLIMIT_NPROC then bounds its processes (Linux never applies it to root)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() != uid or os.getegid() != gid:
        raise OSError(f"could not become user {uid}")


#: XLA fuses `a * b + c` into one FMA instruction (one rounding instead of two) in a compiled program, never
#: in an operation run on its own: capping the instruction set below FMA (AVX2) on x86 keeps a staged call
#: (runner/staging.py) equal to the eager one to the last bit, in the cases measured
_NO_FMA = " --xla_cpu_max_isa=AVX" if platform.machine().lower() in ("x86_64", "amd64") else ""
#: Compiling, not running, is what a JAX check spends its time on: a program is tiny, called a few times, and
#: XLA's CPU pipeline takes ~25 ms on each of the ~150 of a jax-nn check. The legacy elemental emitter (not the
#: MLIR fusion emitters) and LLVM without optimisation compile such a program in about a third of the time, to
#: the same bits (bench/xla_flags.py: 138 functions x float32/64 x eager/jit/grad, only `tan` differs, and is
#: the same in every process of a grading); large element-wise work runs up to 2x slower, which no check of
#: tiny inputs notices. XLA aborts the process on a flag it does not know, so they are set only for the
#: jaxlib they were verified on (pyproject pins it).
_FAST_COMPILE = " --xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
_FAST_COMPILE_JAXLIB = "0.10."


def child_xla_flags() -> str:
    """XLA_FLAGS of the submission's process (and of whatever shares its compilation cache: the flags are part
    of every cache key)."""
    flags = "--xla_cpu_multi_thread_eigen=false" + _NO_FMA
    if _jaxlib_version().startswith(_FAST_COMPILE_JAXLIB):
        flags += _FAST_COMPILE
    return flags


_JAXLIB_VERSION: list[str] = []


def _jaxlib_version() -> str:
    """The installed jaxlib's version, read from its metadata (importing it costs half a second)."""
    if not _JAXLIB_VERSION:
        from importlib import metadata

        try:
            _JAXLIB_VERSION.append(metadata.version("jaxlib"))
        except metadata.PackageNotFoundError:
            _JAXLIB_VERSION.append("")
    return _JAXLIB_VERSION[0]


def child_environment(scratch: Path, threads: int = 1) -> dict[str, str]:
    """A small, predictable environment: nothing of the grader's leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "JAX_ENABLE_X64": "1",
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        # (a token that is not a flag, as `intra_op_parallelism_threads=1` was here, ends XLA's reading of the rest)
        "XLA_FLAGS": child_xla_flags(),
    }
    cache = jax_cache_dir()
    if cache:
        env["ADGRADE_JAX_CACHE"] = cache
    for key in ("VIRTUAL_ENV", "CONDA_PREFIX", "SYSTEMROOT"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def jax_cache_dir() -> str:
    """Where JAX keeps compiled executables between runs ("" when off): the *trusted* cache.

    `ADGRADE_JAX_CACHE` wins (`off` disables it); by default the user's cache
    folder. Only trusted computations write it (the grader's own process, the
    reference warming it before `grade`); sandboxed submissions may read it in
    `grade`, never write it. A student's process in `check` has a cache of its
    own (`student_jax_cache_dir`), which nothing trusted ever loads.
    """
    value = os.environ.get("ADGRADE_JAX_CACHE")
    if value is not None:
        return "" if value.lower() in ("", "0", "off", "none") else value
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "adgrade", "jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return ""
    return folder


def student_jax_cache_dir() -> str:
    """The compilation cache the student's own process writes in `check` ("" when caching is off): next to
    the trusted one, never the same folder, so no entry a submission wrote is loaded by the grader's
    computation (`ADGRADE_JAX_STUDENT_CACHE` names another)."""
    trusted = jax_cache_dir()
    if not trusted:
        return ""
    folder = os.environ.get("ADGRADE_JAX_STUDENT_CACHE") or trusted.rstrip("/") + "-student"
    if os.path.realpath(folder) == os.path.realpath(trusted):
        return ""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return ""
    return folder
