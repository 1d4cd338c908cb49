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
* writable: its scratch folder only (HOME and TMPDIR); the rest of the root is
  remounted read-only;
* not at all: problems/, reference/, the submissions and other students'
  files, the output folder, /root, /home, the grader's /tmp;
* namespaces: network (no interface but a loopback of its own), pid, ipc,
  uts, cgroup; user when not run as root;
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
from typing import Callable

from adgrade.runner.forkserver import ForkServer, ForkServerError, ForkServerLauncher, ServerPool
from adgrade.runner.limits import Limits, child_environment, jax_cache_dir
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
        scratch = tempfile.mkdtemp(prefix="adgrade-probe-")
        try:
            sandbox = Sandbox()
            prepare_scratch(scratch, sandbox)
            command = sandbox.wrap([sys.executable, "-I", "-c", "import adgrade.runner.child"],
                                   writable=[scratch], cwd=scratch, for_server=False)
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                      env=child_environment(Path(scratch)))
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
    return {flag for flag in ("--disable-userns", "--perms", "--as-pid-1", "--unshare-cgroup-try") if flag in text}


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
        self._support = Path(tempfile.mkdtemp(prefix="adgrade-sandbox-"))
        os.chmod(self._support, 0o755)
        _remove_at_exit(self._support)
        self.passwd, self.group = self._write_identity()
        self.binds = self._readonly_binds()

    def cleanup(self) -> None:
        shutil.rmtree(self._support, ignore_errors=True)

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
        env = {"USER": SANDBOX_USER, "LOGNAME": SANDBOX_USER}
        if jax_cache_dir():
            env["ADGRADE_JAX_CACHE_READONLY"] = "1"  # child.py: JAX's failed cache writes stay quiet
        return env

    def wrap(self, command: list[str], *, writable: list[str], cwd: str, for_server: bool) -> list[str]:
        """`bwrap ARGS -- command`: `writable` folders are the only ones the command can write."""
        argv = [bwrap_path() or "bwrap", "--die-with-parent", "--new-session",
                "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--hostname", "adgrade"]
        if "--unshare-cgroup-try" in self.features:
            argv.append("--unshare-cgroup-try")
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
        cache = jax_cache_dir()
        if cache and os.path.isdir(cache):
            cache_path = Path(os.path.realpath(cache))
            argv += parents(cache_path) + ["--ro-bind", str(cache_path), str(cache_path)]
            if cache_path != Path(cache):
                argv += parents(Path(cache)) + ["--symlink", str(cache_path), cache]
        # the problems, the reference and the examples stay hidden even if they sit inside a bound folder
        for folder in hidden_dirs():
            if _under(folder, bound):
                argv += ["--tmpfs", str(folder)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--dir", "/tmp"]
        for path in writable:
            p = Path(path)
            argv += parents(p) + ["--bind", str(p), str(p)]
        argv += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", cwd, "--", *command]
        return argv


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

    def __init__(self, limits: Limits, sandbox: Sandbox):
        super().__init__(limits)
        self.sandbox = sandbox

    def command(self, in_fd: int, out_fd: int, scratch: Path) -> list[str]:
        command = super().command(in_fd, out_fd, scratch)
        if self.sandbox.uid is not None:
            command += ["--uid", f"{self.sandbox.uid}:{self.sandbox.gid}"]
        return self.sandbox.wrap(command, writable=[str(scratch)], cwd=str(scratch), for_server=False)

    def start(self, scratch: Path):
        prepare_scratch(scratch, self.sandbox)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        env = child_environment(scratch, self.limits.threads)
        env.update(self.sandbox.env_extra)
        try:
            proc = subprocess.Popen(
                self.command(to_child_r, from_child_w, scratch), stdin=subprocess.DEVNULL, stdout=out_w,
                stderr=out_w, pass_fds=(to_child_r, from_child_w), cwd=scratch, env=env, start_new_session=True)
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

    def __init__(self, mode: str = "auto", *, fork_server: bool = True, stream=None):
        self.mode = resolve_mode(mode, stream)
        self.fork_server = fork_server
        self.stream = stream
        self.sandbox = Sandbox() if self.mode == "bwrap" else None
        # the scratch folders of forked children are made here (bound into the server's sandbox)
        self._runs = tempfile.mkdtemp(prefix="adgrade-runs-")
        os.chmod(self._runs, 0o711)
        _remove_at_exit(Path(self._runs))
        self._fallback_said = False
        self.pool = ServerPool(self._make_server)

    @property
    def sandboxed(self) -> bool:
        return self.sandbox is not None

    def runs_dir(self) -> str:
        return self._runs

    def _make_server(self, backends: tuple[str, ...]) -> ForkServer:
        env = child_environment(Path(self.runs_dir()))
        if self.sandbox is None:
            return ForkServer(backends, env=env)
        sandbox = self.sandbox
        env.update(sandbox.env_extra)
        runs = self.runs_dir()
        return ForkServer(backends, env=env, uid=sandbox.uid, gid=sandbox.gid, sweep=True,
                          wrap=lambda cmd: sandbox.wrap(cmd, writable=[runs], cwd="/", for_server=True))

    def _plain(self, limits: Limits) -> Launcher:
        return BwrapLauncher(limits, self.sandbox) if self.sandbox is not None else Launcher(limits)

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
            extra_env=sandbox.env_extra if sandbox is not None else None, on_fallback=self._said)

    def warm(self, backends: tuple[str, ...] | list[str]) -> None:
        if self.fork_server:
            try:
                self.pool.get(threading.get_ident(), tuple(backends))
            except ForkServerError as exc:
                self._said(str(exc))

    def close(self) -> None:
        """Stop the fork servers and remove the factory's folders (also done at exit)."""
        self.pool.close()
        shutil.rmtree(self._runs, ignore_errors=True)
        if self.sandbox is not None:
            self.sandbox.cleanup()


def launcher_factory(mode: str = "auto", *, fork_server: bool = True, stream=None) -> LauncherFactory:
    """The launchers for `check` and `grade`: mode "auto" | "bwrap" | "none" (see the module's doc)."""
    return LauncherFactory(mode, fork_server=fork_server, stream=stream)
