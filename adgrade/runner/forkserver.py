"""A warm process that forks one fresh child per run: the frameworks' import is paid once.

Isolation is not traded for speed: every run still gets its own process, forked
from a clean server that has imported what the assignment needs (NumPy,
autograd, JAX *without* starting its backend, torch, adgrade.runner.child) and
has run no student code and no computation. The forked child then becomes a
fresh submission process of its own: its own session and process group, only
its three pipes open, its own environment, working folder, user id (in the
sandbox, as root) and rlimits, before `child.serve` reads its setup.

Two halves:

* the server, here (`python -I -m adgrade.runner.forkserver CONTROL_FD ...`),
  which may itself run inside bubblewrap so that every child it forks is
  sandboxed;
* the grader's side, in forkserver_client.py: `ForkServer` (starts and talks to
  one server), `ForkedChild` (the handle `_Attempt` watches: poll / wait /
  kill_group), `ForkServerLauncher` and `ServerPool`.

Control channel: a SOCK_SEQPACKET socket pair; one JSON object per message;
the child's three pipe ends travel with a "spawn" request as SCM_RIGHTS. The
server answers "spawned" (the child's pid as the server sees it) and, when it
has reaped the child, "exit" with a Popen-style return code (negative: killed
by that signal). "kill" asks it to SIGKILL a child's process group; after a
child ends, its process group is killed, and, in the sandbox, every process
left with its user id (one that escaped the group with setsid).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Iterable

from adgrade.runner.limits import Limits

#: the child's fixed descriptors: 0 /dev/null, 1 and 2 its output pipe, then these two
CHILD_IN_FD = 3
CHILD_OUT_FD = 4
MAX_MESSAGE = 1 << 20


# =====================================================================================
# the server
# =====================================================================================

def _prctl_dumpable(on: bool) -> None:
    """Non-dumpable: a child with the server's user id cannot ptrace or read the server's memory."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 1 if on else 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def preload(backends: Iterable[str]) -> None:
    """Import what the children will need, exactly as their `prepare` would, with no computation."""
    from adgrade.backends import get_backend

    for name in backends:
        get_backend(name).load()
    # the child's own code and what it uses at once
    import traceback  # noqa: F401
    import textwrap  # noqa: F401

    import adgrade.runner.child  # noqa: F401
    import adgrade.runner.limits  # noqa: F401


#: how often the server measures a running child's memory and scratch folder (seconds)
WATCH_INTERVAL = 0.05


def _statm_anon(pid: int | str) -> int:
    """Resident anonymous memory of a process in bytes (statm's resident - shared: no ptrace right needed)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            fields = f.read().split()
        return (int(fields[1]) - int(fields[2])) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def sysv_shm_bytes() -> int:
    """Resident bytes of every System V shared memory segment of this IPC namespace."""
    try:
        with open("/proc/sysvipc/shm") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    if not lines:
        return 0
    head = lines[0].split()
    column = head.index("rss") if "rss" in head else head.index("size")
    total = 0
    for line in lines[1:]:
        try:
            total += int(line.split()[column])
        except (ValueError, IndexError):
            pass
    return total


def remove_sysv_ipc() -> int:
    """Remove every System V IPC object (shared memory, semaphores, message queues) this process may remove,
    and every POSIX message queue under /dev/mqueue; returns how many went. Run by the sweeper as the
    children's user id, in the sandbox's own IPC namespace: nothing outlives its submission."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for kind, remove in (("shm", lambda i: libc.shmctl(i, 0, None)), ("sem", lambda i: libc.semctl(i, 0, 0)),
                         ("msg", lambda i: libc.msgctl(i, 0, None))):  # IPC_RMID is 0
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        column = 1  # the id: shmid, semid, msqid
        for line in lines[1:]:
            try:
                removed += remove(int(line.split()[column])) == 0
            except (ValueError, IndexError):
                pass
    try:
        for name in os.listdir("/dev/mqueue"):
            try:
                os.unlink(os.path.join("/dev/mqueue", name))
                removed += 1
            except OSError:
                pass
    except OSError:
        pass
    return removed


class _Server:
    def __init__(self, sock: socket.socket, uid: int | None, gid: int | None, sweep: bool,
                 scratch_root: str | None = None, scratch_files: int = 0):
        self.sock = sock
        self.uid = uid
        self.gid = gid if gid is not None else uid
        self.sweep = sweep  # kill every process of the children's user id after a child ends
        self.children: dict[int, Any] = {}  # pid -> request id
        # the sandbox's tmpfs the children's scratch folders are made in (None: they are the host's)
        self.scratch_root = scratch_root
        self.scratch_files = scratch_files
        # a running child's limits, what it used when it started, and why it was killed (sent with "exit")
        self.limits: dict[int, Limits] = {}
        self.files_at_start: dict[int, int] = {}
        self.reasons: dict[int, str] = {}
        self.base_anon = _statm_anon("self")  # what a fresh child shares with the server (copy-on-write)
        self._watched = 0.0
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def send(self, message: dict) -> None:
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:
            pass

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        import select

        while True:
            watching = self.sweep and bool(self.children)
            try:
                ready, _, _ = select.select([self.sock, self.wake_r], [], [], WATCH_INTERVAL if watching else 1.0)
            except InterruptedError:
                ready = []
            if watching:
                self.watch()
            if self.wake_r in ready:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            self.reap()
            if self.sock in ready:
                try:
                    data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 8)
                except OSError:
                    data, fds = b"", []
                if not data:
                    break  # the grader is gone
                try:
                    request = json.loads(data)
                except ValueError:
                    request = {}
                op = request.get("op")
                if op == "spawn" and len(fds) == 3:
                    self.spawn(request, fds)
                    continue
                for fd in fds:
                    os.close(fd)
                if op == "kill":
                    self.kill(request.get("id"))
                elif op == "exit":
                    break
        self.shutdown()

    def spawn(self, request: dict, fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # what the loop itself allocated since
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            self.send({"event": "failed", "id": request.get("id"), "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            code = 0
            try:
                _become_child(request, fds, self.uid, self.gid)
            except BaseException:
                code = 70
                try:
                    import traceback

                    os.write(2, ("adgrade fork server: the child could not start:\n"
                                 + traceback.format_exc()).encode("utf-8", "replace"))
                except BaseException:
                    pass
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except BaseException:
                    pass
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.children[pid] = request.get("id")
        try:
            self.limits[pid] = Limits.from_arg(request["limits"])
        except (KeyError, ValueError, TypeError):
            self.limits[pid] = Limits()
        self.files_at_start[pid] = self._scratch_inodes()
        self.send({"event": "spawned", "id": request.get("id"), "pid": pid})

    # -- what the whole submission uses (bounded here, not per process) ----------------------
    def _scratch_inodes(self) -> int:
        if not self.scratch_root:
            return 0
        try:
            st = os.statvfs(self.scratch_root)
        except OSError:
            return 0
        return st.f_files - st.f_ffree

    def submission_memory(self) -> int:
        """Bytes the running submission holds: the resident anonymous memory of every process in the
        sandbox's pid namespace (for the child the server forked, beyond what it shares with the server),
        and its System V shared memory.

        Copy-on-write memory one of the submission's processes shares with another it forked (not exec'd)
        is counted in both (a conservative estimate: no ptrace right is needed to read it)."""
        me = os.getpid()
        total = sysv_shm_bytes()
        try:
            pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
        except OSError:
            return total
        for pid in pids:
            if pid == me or (pid == 1 and me != 1):
                continue  # this server, and bubblewrap's own init when the server is not pid 1
            anon = _statm_anon(pid)
            # only the child the server forked shares the server's pages; a process the submission started
            # (exec'd) owns all of its memory
            total += max(0, anon - self.base_anon) if pid in self.children else anon
        return total

    def watch(self) -> None:
        """Kill a child whose processes together use more memory than its limit, or that made more files
        in its scratch folder than allowed (a tmpfs's --size bounds their bytes already)."""
        now = time.monotonic()
        if now - self._watched < WATCH_INTERVAL:
            return
        self._watched = now
        for pid in list(self.children):
            if pid in self.reasons:
                continue
            limits = self.limits.get(pid) or Limits()
            used = self.submission_memory()
            if used > limits.memory_mb * 2**20:
                self._over(pid, f"the submission's processes together used {used / 2**20:.0f} MB of memory, over "
                                f"the limit of {limits.memory_mb} MB for all of them together")
                continue
            files = self._scratch_inodes() - self.files_at_start.get(pid, 0)
            if self.scratch_files and files > self.scratch_files:
                self._over(pid, f"it made more than {self.scratch_files} files and folders in its scratch folder "
                                f"(the limit); write fewer, larger files")

    def _over(self, pid: int, reason: str) -> None:
        self.reasons[pid] = reason
        self._kill_group(pid)
        if self.sweep:
            self._sweep_once()  # its other processes too (one child at a time per server)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.children:
                continue  # an orphan of a child's (we are pid 1 in the sandbox), or a sweeper
            rid = self.children.pop(pid)
            self.limits.pop(pid, None)
            self.files_at_start.pop(pid, None)
            reason = self.reasons.pop(pid, "")
            self._kill_group(pid)
            self._sweep()
            message = {"event": "exit", "id": rid, "pid": pid, "code": _returncode(status)}
            if reason:
                message["reason"] = reason
            self.send(message)

    def _settle(self, timeout: float = 3.0) -> None:
        """In the sandbox's pid namespace, wait until no process but this server is left (reaping the
        killed ones: a zombie still counts against RLIMIT_NPROC), sweeping again now and then."""
        deadline = time.monotonic() + timeout
        last_sweep = time.monotonic()
        while time.monotonic() < deadline:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            try:
                others = [n for n in os.listdir("/proc") if n.isdigit() and int(n) != os.getpid()]
            except OSError:
                return
            if not others:
                return
            if time.monotonic() - last_sweep > 0.1:
                self._sweep(settle=False)
                last_sweep = time.monotonic()
            time.sleep(0.005)

    def kill(self, rid: Any) -> None:
        for pid, other in list(self.children.items()):
            if other == rid:
                self._kill_group(pid)

    @staticmethod
    def _kill_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _sweep(self, settle: bool = True) -> None:
        """Kill what a child left behind outside its group (a setsid daemon, a fork bomb's remains)."""
        if not self.sweep or self.children:
            return  # a child still running has the same user id: it would go too (swept when the last ends)
        if settle:
            try:
                self._sweep_once()
            finally:
                if os.getpid() == 1:  # the sandbox's pid namespace is ours alone
                    self._settle()
            return
        self._sweep_once()

    def _sweep_once(self) -> None:
        try:
            pid = os.fork()
        except OSError:
            return
        if pid == 0:
            try:
                if self.uid is not None:
                    os.setgroups([])
                    os.setresgid(self.gid, self.gid, self.gid)
                    os.setresuid(self.uid, self.uid, self.uid)
                # every process this user id may signal, in the sandbox's pid namespace, except
                # pid 1 (this server, when it shares the user id) and the sweeper itself
                for _ in range(3):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        break
                # and what would outlive them: System V IPC and POSIX message queues of this IPC namespace
                remove_sysv_ipc()
            except BaseException:
                pass
            os._exit(0)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def shutdown(self) -> None:
        for pid in list(self.children):
            self._kill_group(pid)
        deadline = time.monotonic() + 5
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        self.children.clear()
        self._sweep()


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -signal.SIGKILL


def _become_child(request: dict, fds: list[int], uid: int | None, gid: int | None) -> None:
    """In the forked process: from a copy of the server to a fresh, limited submission process."""
    in_fd, frames_fd, out_fd = fds
    gc.enable()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()  # its own session and process group: pgid == pid, a timeout kills all it started
    # descriptors: 0 /dev/null, 1 and 2 the output pipe, 3 and 4 the frames; nothing else survives
    devnull = os.open("/dev/null", os.O_RDONLY)
    high = max(fds + [devnull, 10]) + 1
    in_fd, frames_fd, out_fd, devnull = (_fcntl_dup(fd, high) for fd in (in_fd, frames_fd, out_fd, devnull))
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.dup2(in_fd, CHILD_IN_FD)
    os.dup2(frames_fd, CHILD_OUT_FD)
    os.closerange(CHILD_OUT_FD + 1, _max_fd())
    for fd in (0, 1, 2, CHILD_IN_FD, CHILD_OUT_FD):
        os.set_inheritable(fd, fd < 3)
    # environment and working folder of its own
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    if uid is not None:
        from adgrade.runner.limits import drop_privileges

        drop_privileges(uid, gid if gid is not None else uid)
    cwd = request.get("cwd") or "/"
    root = request.get("scratch_root")
    if root and os.path.dirname(cwd.rstrip("/")) == root.rstrip("/"):
        # the sandbox's tmpfs: the scratch folder is made here, and what earlier submissions left goes
        # (before any student code runs; a restarted life of the same submission keeps its own folder)
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            if path != cwd.rstrip("/"):
                _remove_tree(path)
        os.makedirs(cwd, mode=0o700, exist_ok=True)
    os.chdir(cwd)  # after the drop: the folder is the child's alone
    _prctl_dumpable(True)
    from adgrade.runner.limits import Limits as _Limits, set_child_limits

    set_child_limits(_Limits.from_arg(request["limits"]))
    _reseed()
    sys.argv = ["-m"]
    from adgrade.runner import child

    child.serve(CHILD_IN_FD, CHILD_OUT_FD)
    sys.stdout.flush()
    sys.stderr.flush()
    # like child.main: no interpreter teardown (student threads, atexit hooks)
    os._exit(0)


def _remove_tree(path: str) -> None:
    """Remove a folder an earlier submission left, even one it made unreadable (chmod 000: same owner)."""
    import shutil

    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    for root, dirs, _ in os.walk(path):  # top-down: each folder is made listable before it is entered
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _fcntl_dup(fd: int, low: int) -> int:
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return new


def _max_fd() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 1 << 20


def _reseed() -> None:
    """A fresh process seeds its generators from the OS; so does a forked one."""
    import random

    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed(None)
        except Exception:
            pass


def server_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="adgrade.runner.forkserver")
    parser.add_argument("control_fd", type=int)
    parser.add_argument("--preload", default="")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--scratch-root")
    parser.add_argument("--scratch-files", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.control_fd)
    os.set_inheritable(args.control_fd, False)
    # pid 1 in the sandbox ignores signals it has no handler for; SIGINT gets none either
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _prctl_dumpable(False)
    started = time.perf_counter()
    error = ""
    # copy-on-write: no collections in the server (no freed holes), and everything imported frozen, so
    # that a child's collections never write to the pages it shares with the server (Python's gc docs)
    gc.disable()
    try:
        preload([b for b in args.preload.split(",") if b])
    except BaseException as exc:  # the server still forks; each child reports the import error itself
        error = f"{type(exc).__name__}: {exc}"
    gc.freeze()
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0
    message = {"event": "ready", "pid": os.getpid(), "seconds": time.perf_counter() - started,
               "error": error, "threads": threads}
    server = _Server(sock, args.uid, args.gid, args.sweep, args.scratch_root, args.scratch_files)
    server.send(message)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(server_main(sys.argv[1:]))
