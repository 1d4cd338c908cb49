"""The sandbox around the submission's process: bubblewrap when it works, rlimits alone when not.

`launcher_factory(mode)` is what `check` and `grade` call: mode "auto" (bwrap
when it is installed and works here, else plain rlimited processes, said once
and loudly on stderr), "bwrap" (required; `SandboxUnavailable` otherwise) or
"none". The factory returns a callable `(Limits) -> Launcher`; by default the
launchers it makes fork every child from a warm fork server (one per worker
thread and set of frameworks, runner/forkserver.py), which itself runs inside
the sandbox, so every forked child is sandboxed.

Under bubblewrap the child sees (docs/sandbox.md has the whole list):

* read-only: /usr (and /bin, /lib... as on the host), the Python installation
  and its site-packages, the adgrade package folder alone, a handful of /etc
  files (the loader's cache, localtime, a made-up passwd/group), /sys's CPU
  description, the JAX compilation cache when there is one;
* writable: its scratch folder only (HOME and TMPDIR; a size-limited tmpfs), and in
  `check` its own JAX compilation cache; the rest of the root is remounted read-only;
* not at all: problems/, reference/, the submissions and other students'
  files, the output folder, /root, /home, the grader's /tmp;
* namespaces: network (no interface but a loopback of its own), pid, ipc,
  uts, cgroup, and a user namespace in which no other can be made (as root,
  one adgrade makes: `make_userns`);
* as root, the child runs as an unprivileged user id of its own (no
  capabilities, no_new_privs), so that RLIMIT_NPROC, which Linux never applies
  to root, bounds a fork bomb; without root the user namespace does.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

from adgrade.runner.forkserver_client import ForkServer, ForkServerError, ForkServerLauncher, ServerPool
from adgrade.runner.limits import Limits, child_environment, jax_cache_dir, student_jax_cache_dir
from adgrade.runner.parent import Launcher, PopenHandle

MODES = ("auto", "bwrap", "none")

NOT_FOUND = ("adgrade: bubblewrap not found; submissions run without a sandbox (rlimits only). "
             "Install it: apt-get install bubblewrap")
NOT_WORKING = ("adgrade: bubblewrap is installed but cannot make a sandbox here ({why}); submissions run without "
               "a sandbox (rlimits only). Unprivileged user namespaces may be disabled "
               "(sysctl kernel.unprivileged_userns_clone=1, or AppArmor's restrict_unprivileged_userns=0).")

#: /etc files a Python process may read; nothing else of /etc is visible
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts",
             "nsswitch.conf", "host.conf")
#: top-level system folders: bound read-only, or recreated as the same symlink
SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: the name the child has
SANDBOX_USER = "student"
#: the scratch folder's size (a tmpfs: RAM), and how many files and folders it may hold
SCRATCH_MB = int(os.environ.get("ADGRADE_SCRATCH_MB", "512"))
SCRATCH_FILES = int(os.environ.get("ADGRADE_SCRATCH_FILES", "10000"))


class SandboxUnavailable(RuntimeError):
    """`--sandbox bwrap` was asked for and bubblewrap cannot be used here."""


# -- is bubblewrap usable? -------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_result: tuple[bool, str] | None = None
_warned = False


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def probe() -> tuple[bool, str]:
    """(works, why not), found once per process by running Python inside the real sandbox."""
    global _probe_result
    with _probe_lock:
        if _probe_result is not None:
            return _probe_result
        if bwrap_path() is None:
            _probe_result = (False, "not found")
            return _probe_result
        scratch = owned_tempdir("adgrade-probe-")
        try:
            sandbox = Sandbox()
            prepare_scratch(scratch, sandbox)
            command = sandbox.wrap([sys.executable, "-I", "-c", "import adgrade.runner.child"],
                                   writable=[scratch], cwd=scratch, for_server=False)
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                      env=child_environment(Path(scratch)), pass_fds=sandbox.pass_fds)
            except (OSError, subprocess.TimeoutExpired) as exc:
                _probe_result = (False, str(exc))
            else:
                why = (proc.stderr or proc.stdout).strip().splitlines()
                _probe_result = (proc.returncode == 0, why[-1] if why else f"exit code {proc.returncode}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if "sandbox" in locals():
                sandbox.cleanup()
        return _probe_result


def resolve_mode(mode: str, stream=None) -> str:
    """"bwrap" or "none"; "auto" says once, on stderr, when it has to fall back."""
    global _warned
    if mode not in MODES:
        raise ValueError(f"unknown sandbox mode {mode!r} (one of: {', '.join(MODES)})")
    if mode == "none":
        return "none"
    works, why = probe()
    if works:
        return "bwrap"
    message = NOT_FOUND if why == "not found" else NOT_WORKING.format(why=why)
    if mode == "bwrap":
        raise SandboxUnavailable(message.replace("; submissions run without a sandbox (rlimits only)", ""))
    if not _warned:
        _warned = True
        print(message, file=stream or sys.stderr, flush=True)
    return "none"


# -- the bubblewrap command ------------------------------------------------------------------

_uid_counter = itertools.count()


def allocate_uid() -> int:
    """An unused-looking user id for one server or child (only ever used inside the sandbox)."""
    return 2_000_000_000 + (((os.getpid() & 0xFFFF) << 10) | (next(_uid_counter) & 0x3FF))


def _bwrap_features() -> set[str]:
    try:
        text = subprocess.run([bwrap_path() or "bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {flag for flag in ("--disable-userns", "--perms", "--as-pid-1", "--unshare-cgroup-try", "--size", "--userns",
                              "--mqueue") if flag in text}


_features: set[str] | None = None


_child_path: list[str] | None = None


def child_sys_path() -> list[str]:
    """The import path of a fresh `python -I` (what the child imports from): not this process's,
    which pytest or PYTHONPATH may have extended with folders the child must not see."""
    global _child_path
    if _child_path is None:
        try:
            out = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                                 capture_output=True, text=True, timeout=60, env=child_environment(Path("/")))
            import json

            _child_path = [p for p in json.loads(out.stdout) if isinstance(p, str)]
        except (OSError, ValueError, subprocess.TimeoutExpired):
            import site

            _child_path = [*site.getsitepackages(), sysconfig.get_paths()["stdlib"]]
    return _child_path


def _python_roots() -> list[Path]:
    roots = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(Path(os.path.realpath(sys.executable)).parent.parent)
    for path in child_sys_path():
        if path and os.path.isabs(path) and os.path.exists(path):
            roots.add(Path(path))
    out = {Path(os.path.realpath(r)) for r in roots if r.exists()} | {r for r in roots if r.exists()}
    return sorted(out)


def adgrade_dir() -> Path:
    import adgrade

    return Path(adgrade.__file__).resolve().parent


def hidden_dirs() -> list[Path]:
    """Folders that must never be visible, even when they lie inside a bound one."""
    from adgrade.spec import search_path

    out = []
    for folder in [*search_path(), adgrade_dir().parent / "reference", adgrade_dir().parent / "submissions_example"]:
        try:
            folder = folder.resolve()
        except OSError:
            continue
        if folder.is_dir():
            out.append(folder)
    return out


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


class Sandbox:
    """Builds bubblewrap command lines; one per factory (the user id it gives children, as root)."""

    def __init__(self) -> None:
        global _features
        if _features is None:
            _features = _bwrap_features()
        self.features = _features
        self.root = os.geteuid() == 0
        self.uid: int | None = allocate_uid() if self.root else None
        self.gid: int | None = self.uid
        self._support = Path(owned_tempdir("adgrade-sandbox-"))
        os.chmod(self._support, 0o755)
        _remove_at_exit(self._support)
        self.passwd, self.group = self._write_identity()
        self.binds = self._readonly_binds()
        #: as root, the user namespace every sandbox of this one joins (None: user namespaces stay allowed)
        self.userns_fd: int | None = None
        self.userns_error = ""
        if self.root and "--userns" in self.features:
            try:
                self.userns_fd = make_userns(self.uid)
            except OSError as exc:
                self.userns_error = str(exc)

    @property
    def pass_fds(self) -> tuple[int, ...]:
        """Descriptors the bubblewrap process must inherit (pass them to Popen's pass_fds)."""
        return (self.userns_fd,) if self.userns_fd is not None else ()

    def cleanup(self) -> None:
        shutil.rmtree(self._support, ignore_errors=True)
        if self.userns_fd is not None:
            try:
                os.close(self.userns_fd)
            except OSError:
                pass
            self.userns_fd = None

    def _write_identity(self) -> tuple[Path, Path]:
        uid = self.uid if self.uid is not None else os.getuid()
        gid = self.gid if self.gid is not None else os.getgid()
        passwd = self._support / "passwd"
        group = self._support / "group"
        passwd.write_text(f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
                          f"{SANDBOX_USER}:x:{uid}:{gid}:{SANDBOX_USER}:/nonexistent:/usr/sbin/nologin\n"
                          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        group.write_text(f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\nnogroup:x:65534:\n")
        passwd.chmod(0o644)
        group.chmod(0o644)
        return passwd, group

    def _readonly_binds(self) -> list[Path]:
        """Folders bound read-only (besides /usr and the system folders)."""
        usr = [Path("/usr")]
        binds: list[Path] = []
        package = adgrade_dir()
        project = package.parent
        for root in _python_roots():
            if _under(root, usr + binds):
                continue
            if root == project or root in project.parents and root != Path("/"):
                continue  # a source checkout on sys.path: only the package folder below
            if root == Path("/"):
                continue
            binds = [b for b in binds if not _under(b, [root])] + [root]
        if not _under(package, usr + binds):
            binds.append(package)
        return sorted(binds)

    @property
    def env_extra(self) -> dict[str, str]:
        return {"USER": SANDBOX_USER, "LOGNAME": SANDBOX_USER}

    def wrap(self, command: list[str], *, writable: list[str], cwd: str, for_server: bool,
             scratch: str | None = None, scratch_mb: int | None = None, jax_cache: str | None = None,
             jax_cache_writable: bool = False) -> list[str]:
        """`bwrap ARGS -- command`: `writable` folders are the only ones the command can write.

        `scratch`: a folder made a tmpfs of `scratch_mb` MB (bubblewrap's --size) that anyone in the sandbox
        may make a folder in (the scratch folders of a fork server's children); bound from the host
        like `writable` when this bubblewrap has no --size.

        `jax_cache`: the JAX compilation cache to show (None: the trusted one, read-only; "": none),
        writable when `jax_cache_writable` (the student's own cache in `check`).
        """
        argv = [bwrap_path() or "bwrap", "--die-with-parent", "--new-session",
                "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--hostname", "adgrade"]
        if "--unshare-cgroup-try" in self.features:
            argv.append("--unshare-cgroup-try")
        if self.userns_fd is not None:
            argv += ["--userns", str(self.userns_fd)]  # root's own namespace: no user namespace inside
        if self.root:
            # privileged bubblewrap: no user namespace (it would map the child to root again);
            # the child drops to self.uid itself, which needs these two, and the server kills with the third
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            if for_server:
                argv += ["--cap-add", "CAP_KILL"]
        else:
            argv.append("--unshare-user")
            if "--disable-userns" in self.features:
                argv.append("--disable-userns")
        if for_server and "--as-pid-1" in self.features:
            argv.append("--as-pid-1")  # the server: unkillable from inside, and the reaper of orphans
        made: set[Path] = set()

        def parents(path: Path) -> list[str]:
            # bubblewrap copies the modes of the host's folders (/root is 0700): make them traversable
            out: list[str] = []
            for parent in reversed(path.parents):
                if parent == Path("/") or parent in made or _under(parent, bound):
                    continue
                made.add(parent)
                out += (["--perms", "0755"] if "--perms" in self.features else []) + ["--dir", str(parent)]
            return out

        bound: list[Path] = []
        argv += ["--ro-bind", "/usr", "/usr"]
        bound.append(Path("/usr"))
        for name in SYSTEM_DIRS:
            path = Path("/") / name
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
                bound.append(path)
        for path in self.binds:
            argv += parents(path) + ["--ro-bind", str(path), str(path)]
            bound.append(path)
        etc = Path("/etc")
        argv += ["--perms", "0755", "--dir", "/etc"] if "--perms" in self.features else ["--dir", "/etc"]
        for name in ETC_FILES:
            if (etc / name).exists():
                argv += ["--ro-bind", str(etc / name), str(etc / name)]
        argv += ["--ro-bind", str(self.passwd), "/etc/passwd", "--ro-bind", str(self.group), "/etc/group"]
        if Path("/sys/devices/system/cpu").is_dir():
            # XLA and torch read the CPU count and caches here
            argv += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        cache = jax_cache_dir() if jax_cache is None else jax_cache
        if cache and os.path.isdir(cache):
            cache_path = Path(os.path.realpath(cache))
            argv += parents(cache_path) + ["--bind" if jax_cache_writable else "--ro-bind", str(cache_path),
                                           str(cache_path)]
            if cache_path != Path(cache):
                argv += parents(Path(cache)) + ["--symlink", str(cache_path), cache]
        # the problems, the reference and the examples stay hidden even if they sit inside a bound folder
        for folder in hidden_dirs():
            if _under(folder, bound):
                argv += ["--tmpfs", str(folder)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--dir", "/tmp"]
        if "--mqueue" in self.features:
            # POSIX message queues live in the IPC namespace; mounted, the fork server can list and remove them
            argv += ["--mqueue", "/dev/mqueue"]
        if scratch is not None and not ("--size" in self.features and "--perms" in self.features):
            writable = [*writable, scratch]
            scratch = None
        for path in writable:
            p = Path(path)
            argv += parents(p) + ["--bind", str(p), str(p)]
        if scratch is not None:
            size = (scratch_mb or SCRATCH_MB) * 2**20
            argv += parents(Path(scratch)) + ["--perms", "1777", "--size", str(size),
                                              "--tmpfs", scratch]
        argv += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", cwd, "--", *command]
        return argv

    def scratch_is_tmpfs(self) -> bool:
        return "--size" in self.features and "--perms" in self.features


# -- as root: a user namespace of our own, in which no further one can be made --------------------------

#: what the helper that makes the namespace runs (a fresh interpreter: no fork of this threaded process)
_USERNS_HELPER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
    sys.stdout.write("unshare failed: errno %d\n" % ctypes.get_errno()); sys.stdout.flush(); sys.exit(1)
# this namespace's own limit (the host's is untouched): no user namespace can be made inside it
with open("/proc/sys/user/max_user_namespaces", "w") as f:
    f.write("0")
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.read()
"""


def make_userns(uid: int, count: int = 1) -> int:
    """As root: an open descriptor of a new user namespace that maps root and `count` user ids from `uid` to
    themselves, and in which no further user namespace can be created (`unshare -U -r` fails with ENOSPC).

    bubblewrap's `--disable-userns` needs `--unshare-user`, which as root would map the child to root
    again (and root is exempt from RLIMIT_NPROC); `--userns FD` with this namespace gives both.
    """
    helper = subprocess.Popen([sys.executable, "-I", "-c", _USERNS_HELPER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = helper.stdout.readline().strip()
        if line != "ready":
            raise OSError(f"could not make a user namespace: {line or 'no answer'}")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{helper.pid}/{name}", "w") as f:
                f.write(f"0 0 1\n{uid} {uid} {count}\n")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.kill()
        helper.wait()


# -- leftovers of a grader killed with SIGKILL (no atexit ran) ------------------------------------------

#: the folders this module makes in the temporary folder; their names carry their maker's pid and start time
LEFTOVER_PREFIXES = ("adgrade-runs-", "adgrade-sandbox-", "adgrade-probe-")


def _start_time(pid: int) -> str:
    """A process's start time (clock ticks after boot): with the pid, it names one process, even after the
    pid is reused. "" when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return ""


def owned_tempdir(prefix: str) -> str:
    """`tempfile.mkdtemp` whose name says which process made it (`prefix<pid>-<start time>-XXXX`)."""
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-{_start_time(os.getpid()) or 0}-")


def remove_leftovers(folder: str | None = None) -> list[str]:
    """Remove the folders of adgrade processes that are gone (killed with SIGKILL, so no clean-up ran):
    only ours (same user), only those whose maker (pid and start time, from the name) no longer runs."""
    folder = folder or tempfile.gettempdir()
    removed: list[str] = []
    if not _start_time(os.getpid()):
        return removed  # no /proc (not Linux): no way to tell a living maker from a dead one
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(LEFTOVER_PREFIXES):
            continue
        parts = entry.name.split("-")
        # adgrade-runs-<pid>-<start>-<random>: older names without a pid are left alone
        if len(parts) < 5 or not parts[2].isdigit():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
        except OSError:
            continue
        pid, started = int(parts[2]), parts[3]
        if started == "0" or _start_time(pid) == started:  # "0": its maker could not tell its own start
            continue  # its maker still runs
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.exists(entry.path):
            removed.append(entry.path)
    return removed


def _remove_at_exit(folder: Path) -> None:
    """Remove a folder when this process exits (not a forked copy of it: a pool worker)."""
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))


def prepare_scratch(scratch: str | Path, sandbox: "Sandbox") -> None:
    """The child's own folder: owned by its user id; 0711 so bubblewrap (root without capabilities) can
    chdir into it, but no one else can list it."""
    if sandbox.uid is not None:
        os.chown(scratch, sandbox.uid, sandbox.gid)
    os.chmod(scratch, 0o711)


# -- launchers -----------------------------------------------------------------------------------------

class BwrapLauncher(Launcher):
    """One bubblewrap sandbox per child process (no fork server): the slow, simple way."""

    name = "bwrap"

    def __init__(self, limits: Limits, sandbox: Sandbox, *, extra_env: dict[str, str] | None = None,
                 jax_cache: str | None = None, jax_cache_writable: bool = False):
        super().__init__(limits)
        self.sandbox = sandbox
        self.extra_env = {**sandbox.env_extra, **(extra_env or {})}
        self.jax_cache = jax_cache
        self.jax_cache_writable = jax_cache_writable

    def command(self, in_fd: int, out_fd: int, scratch: Path) -> list[str]:
        command = super().command(in_fd, out_fd, scratch)
        if self.sandbox.uid is not None:
            command += ["--uid", f"{self.sandbox.uid}:{self.sandbox.gid}"]
        # a tmpfs of its own over the scratch folder: bounded in size (no file-count watch on this path)
        return self.sandbox.wrap(command, writable=[], cwd=str(scratch), for_server=False, scratch=str(scratch),
                                 jax_cache=self.jax_cache, jax_cache_writable=self.jax_cache_writable)

    def start(self, scratch: Path):
        prepare_scratch(scratch, self.sandbox)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        env = child_environment(scratch, self.limits.threads)
        env.update(self.extra_env)
        try:
            proc = subprocess.Popen(
                self.command(to_child_r, from_child_w, scratch), stdin=subprocess.DEVNULL, stdout=out_w,
                stderr=out_w, pass_fds=(to_child_r, from_child_w, *self.sandbox.pass_fds), cwd=scratch, env=env,
                start_new_session=True)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
            os.close(out_w)
        return PopenHandle(proc, decode_shell_status=True), to_child_w, from_child_r, out_r


class LauncherFactory:
    """`(Limits) -> Launcher`, holding the fork servers of every worker thread that calls it.

    Call `close()` when done (also done at exit). `warm(backends)` starts the
    calling thread's server ahead of the first submission.
    """

    def __init__(self, mode: str = "auto", *, fork_server: bool = True, stream=None, student_cache: bool = False):
        self.mode = resolve_mode(mode, stream)
        self.fork_server = fork_server
        self.stream = stream
        self.sandbox = Sandbox() if self.mode == "bwrap" else None
        self.jax_cache, self.jax_cache_writable = self._cache_policy(student_cache)
        # the scratch folders of forked children are made here (bound into the server's sandbox)
        remove_leftovers()  # of graders killed before (SIGKILL runs no clean-up)
        self._runs = owned_tempdir("adgrade-runs-")
        os.chmod(self._runs, 0o711)
        _remove_at_exit(Path(self._runs))
        self._fallback_said = False
        self.pool = ServerPool(self._make_server)

    @property
    def sandboxed(self) -> bool:
        return self.sandbox is not None

    def _cache_policy(self, student_cache: bool) -> tuple[str, bool]:
        """(the JAX compilation cache the children use, whether they may write it).

        No submission ever writes an entry that another submission or the grader's own computation loads:
        in `check` (student_cache) the student's process writes a cache of its own, apart from the trusted
        one the grader's process uses; in `grade` the children read the trusted cache (warmed by the
        reference, batch.warm_compilation_cache) read-only in the sandbox, and, without a sandbox (where
        nothing stops them writing it), use none.
        """
        if not jax_cache_dir():
            return "", False
        if student_cache:
            own = student_jax_cache_dir()
            if own and self.sandbox is not None and self.sandbox.uid is not None:
                # as root the children run as the sandbox's user id: the folder must be theirs to write
                try:
                    os.chown(own, self.sandbox.uid, self.sandbox.gid)
                    os.chmod(own, 0o755)
                except OSError:
                    return "", False
            return own, bool(own)
        if self.sandbox is None:
            return "", False
        return jax_cache_dir(), False

    @property
    def env_extra(self) -> dict[str, str]:
        """What every child's environment gets on top of `child_environment`."""
        env = dict(self.sandbox.env_extra) if self.sandbox is not None else {}
        env["ADGRADE_JAX_CACHE"] = self.jax_cache or "off"
        if self.jax_cache and not self.jax_cache_writable:
            env["ADGRADE_JAX_CACHE_READONLY"] = "1"  # child.py: JAX's failed cache writes stay quiet
        return env

    def runs_dir(self) -> str:
        return self._runs

    def _make_server(self, backends: tuple[str, ...]) -> ForkServer:
        # the server loads JAX with the children's cache settings: its forked children keep them
        env = child_environment(Path(self.runs_dir()))
        env.update(self.env_extra)
        if self.sandbox is None:
            return ForkServer(backends, env=env)
        sandbox = self.sandbox
        cache, writable = self.jax_cache, self.jax_cache_writable
        runs = self.runs_dir()
        tmpfs = sandbox.scratch_is_tmpfs()
        return ForkServer(backends, env=env, uid=sandbox.uid, gid=sandbox.gid, sweep=True,
                          scratch_root=runs if tmpfs else None, scratch_files=SCRATCH_FILES,
                          pass_fds=sandbox.pass_fds,
                          wrap=lambda cmd: sandbox.wrap(cmd, writable=[] if tmpfs else [runs], cwd="/",
                                                        for_server=True, scratch=runs if tmpfs else None,
                                                        jax_cache=cache, jax_cache_writable=writable))

    def _plain(self, limits: Limits) -> Launcher:
        if self.sandbox is not None:
            return BwrapLauncher(limits, self.sandbox, extra_env=self.env_extra, jax_cache=self.jax_cache,
                                 jax_cache_writable=self.jax_cache_writable)
        launcher = Launcher(limits)
        launcher.extra_env = self.env_extra
        return launcher

    def _said(self, why: str) -> None:
        if not self._fallback_said:
            self._fallback_said = True
            print(f"adgrade: the fork server failed ({why}); each submission starts a fresh process instead",
                  file=self.stream or sys.stderr, flush=True)

    def __call__(self, limits: Limits) -> Launcher:
        if not self.fork_server:
            return self._plain(limits)
        worker = threading.get_ident()
        sandbox = self.sandbox
        return ForkServerLauncher(
            limits, lambda backends: self.pool.get(worker, backends), fallback=self._plain(limits),
            scratch_parent=self.runs_dir(),
            owner=(sandbox.uid, sandbox.gid) if sandbox is not None and sandbox.uid is not None else None,
            extra_env=self.env_extra, on_fallback=self._said)

    def warm(self, backends: tuple[str, ...] | list[str]) -> None:
        if self.fork_server:
            try:
                self.pool.get(threading.get_ident(), tuple(backends))
            except ForkServerError as exc:
                self._said(str(exc))

    def prestart(self, backends: tuple[str, ...] | list[str]) -> None:
        """Start the fork server this thread's next launcher will use, in the background (see
        ServerPool.prestart); a failure shows when the launcher asks for it."""
        if self.fork_server:
            self.pool.prestart(threading.get_ident(), tuple(backends))

    def close(self) -> None:
        """Stop the fork servers and remove the factory's folders (also done at exit)."""
        self.pool.close()
        shutil.rmtree(self._runs, ignore_errors=True)
        if self.sandbox is not None:
            self.sandbox.cleanup()


def launcher_factory(mode: str = "auto", *, fork_server: bool = True, stream=None,
                     student_cache: bool = False) -> LauncherFactory:
    """The launchers for `check` and `grade`: mode "auto" | "bwrap" | "none" (see the module's doc).

    `student_cache`: `check` on the student's own machine, where the student's process keeps a JAX
    compilation cache of its own (so the second check is warm); `grade` leaves it False.
    """
    return LauncherFactory(mode, fork_server=fork_server, stream=stream, student_cache=student_cache)
