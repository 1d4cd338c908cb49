"""The grader's side of the fork server (runner/forkserver.py): start one, ask it for children, watch them.

`ForkServer` starts a server (inside bubblewrap where the sandbox is on) and talks to it over the control
socket; `ForkedChild` is the handle `_Attempt` watches (poll / wait / kill_group); `ForkServerLauncher`
runs a submission's process as a forked child, falling back to a plain process when no server can serve;
`ServerPool` keeps one warm server per worker and set of frameworks, and starts one early (`prestart`).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from adgrade.runner.forkserver import MAX_MESSAGE
from adgrade.runner.limits import Limits, child_environment
from adgrade.runner.parent import Launcher, OutputCapture


class ForkServerError(RuntimeError):
    """The fork server could not be started or stopped answering."""


class ForkedChild:
    """A child forked by the server: the handle `_Attempt` watches (poll, wait, kill_group).

    Not our own child, so no Popen: the server reports its exit status over the
    control socket, and kills its process group on request (its pid is the
    server's, which differs from ours inside the sandbox's pid namespace).
    """

    def __init__(self, server: "ForkServer", rid: int):
        self.server = server
        self.id = rid
        self.pid: int | None = None
        self.returncode: int | None = None
        self.spawned = threading.Event()
        self.done = threading.Event()
        self.error = ""
        self.reason = ""  # why the server killed it (memory of all its processes, scratch files), if it did

    # -- the interface of parent.ChildHandle ---------------------------------------
    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if not self.done.wait(timeout):
            raise subprocess.TimeoutExpired(f"forked child {self.id}", timeout or 0)
        return self.returncode

    def kill_group(self) -> None:
        if self.done.is_set():
            return
        if self.pid is not None and self.server.same_pid_namespace:
            try:
                os.killpg(self.pid, signal.SIGKILL)
                return
            except (ProcessLookupError, PermissionError):
                pass
        self.server.request({"op": "kill", "id": self.id})

    kill = kill_group

    # -- called by the reader ------------------------------------------------------
    def _finish(self, code: int | None) -> None:
        self.returncode = code
        self.spawned.set()
        self.done.set()


class ForkServer:
    """One server process (possibly inside bubblewrap) and the thread that reads its messages."""

    def __init__(self, backends: Iterable[str] = (), *, wrap: Callable[[list[str]], list[str]] | None = None,
                 uid: int | None = None, gid: int | None = None, sweep: bool = False,
                 env: dict[str, str] | None = None, start_timeout: float = 180.0,
                 scratch_root: str | None = None, scratch_files: int = 0, pass_fds: tuple[int, ...] = ()):
        self.backends = tuple(backends)
        self.uid = uid
        self.gid = gid if gid is not None else uid
        self.same_pid_namespace = wrap is None
        self._lock = threading.Lock()  # the table of children
        self._send_lock = threading.Lock()  # one message at a time on the socket
        self._children: dict[int, ForkedChild] = {}
        self._next_id = 0
        self._closed = False
        self.ready_info: dict = {}
        self.scratch_root = scratch_root
        parent_sock, server_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = parent_sock
        command = [sys.executable, "-I", "-m", "adgrade.runner.forkserver", str(server_sock.fileno()),
                   "--preload", ",".join(self.backends)]
        if uid is not None:
            command += ["--uid", str(uid), "--gid", str(self.gid)]
        if sweep:
            command.append("--sweep")
        if scratch_root:
            command += ["--scratch-root", scratch_root, "--scratch-files", str(scratch_files)]
        if wrap is not None:
            command = wrap(command)
        out_r, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                pass_fds=(server_sock.fileno(), *pass_fds), env=env or child_environment(Path("/")),
                cwd="/", start_new_session=True)
        finally:
            server_sock.close()
            os.close(out_w)
        self.capture = OutputCapture(out_r, keep=8 * 1024)
        self.capture.start()
        self._await_ready(start_timeout)
        self._reader = threading.Thread(target=self._read_loop, name="adgrade-forkserver-reader", daemon=True)
        self._reader.start()

    # -- start-up ------------------------------------------------------------------
    def _await_ready(self, timeout: float) -> None:
        import select

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._abort()
                raise ForkServerError(f"the fork server did not start within {timeout:.0f} s")
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if ready:
                data = self.sock.recv(MAX_MESSAGE)
                if data:
                    message = json.loads(data)
                    if message.get("event") == "ready":
                        self.ready_info = message
                        return
                self._abort()
                raise ForkServerError("the fork server stopped while starting: " + self._output())
            if self.proc.poll() is not None:
                self._abort()
                raise ForkServerError(f"the fork server exited with code {self.proc.returncode}: "
                                      + self._output())

    def _output(self) -> str:
        self.capture.join(timeout=1)
        return self.capture.text().strip()[-2000:] or "(no output)"

    def _abort(self) -> None:
        self._closed = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.sock.close()

    # -- messages ------------------------------------------------------------------
    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def request(self, message: dict, fds: list[int] | None = None) -> None:
        data = json.dumps(message).encode()
        with self._send_lock:
            if self._closed:
                raise ForkServerError("the fork server is closed")
            try:
                if fds:
                    socket.send_fds(self.sock, [data], fds)
                else:
                    self.sock.send(data)
            except OSError as exc:
                raise ForkServerError(f"the fork server is gone ({exc})") from None

    def spawn(self, fds: list[int], *, cwd: str, env: dict[str, str], limits: Limits,
              timeout: float = 30.0) -> ForkedChild:
        with self._lock:
            self._next_id += 1
            handle = ForkedChild(self, self._next_id)
            self._children[handle.id] = handle
        self.request({"op": "spawn", "id": handle.id, "cwd": cwd, "env": env, "limits": limits.to_arg(),
                      "scratch_root": self.scratch_root}, fds)
        if not handle.spawned.wait(timeout) or handle.error:
            with self._lock:
                self._children.pop(handle.id, None)
            raise ForkServerError(handle.error or f"the fork server did not fork within {timeout:.0f} s")
        if handle.done.is_set() and handle.pid is None:
            raise ForkServerError("the fork server stopped")
        return handle

    def _read_loop(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            try:
                message = json.loads(data)
            except ValueError:
                continue
            event = message.get("event")
            with self._lock:
                handle = self._children.get(message.get("id"))
                if event == "exit":
                    self._children.pop(message.get("id"), None)
            if handle is None:
                continue
            if event == "spawned":
                handle.pid = int(message["pid"])
                handle.spawned.set()
            elif event == "exit":
                code = message.get("code")
                handle.reason = str(message.get("reason") or "")
                handle._finish(int(code) if isinstance(code, int) else None)
            elif event == "failed":
                handle.error = str(message.get("error") or "the fork server could not fork")
                handle._finish(None)
        # the server is gone: its children are too (the sandbox's pid namespace) or soon will be
        with self._lock:
            self._closed = True
            orphans = list(self._children.values())
            self._children.clear()
        for handle in orphans:
            if handle.pid is not None and self.same_pid_namespace:
                try:
                    os.killpg(handle.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            handle._finish(None)

    def close(self) -> None:
        if self._closed and self.proc.poll() is not None:
            return
        try:
            self.request({"op": "exit"})
        except ForkServerError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._abort()
        self._reader.join(timeout=2)


class ForkServerLauncher(Launcher):
    """Starts each child by asking a warm fork server (one per worker; see sandbox.launcher_factory).

    `server_for(backends)` returns a live `ForkServer` that preloaded them; the
    launcher asks for one when the runner tells it the job (`prepare`). If the
    server cannot be had, `fallback` (a plain process launcher) starts the
    child instead, so grading never depends on the fork server working.
    """

    name = "forkserver"

    def __init__(self, limits: Limits, server_for: Callable[[tuple[str, ...]], ForkServer], *,
                 fallback: Launcher | None = None, scratch_parent: str | None = None,
                 owner: tuple[int, int] | None = None, extra_env: dict[str, str] | None = None,
                 on_fallback: Callable[[str], None] | None = None):
        super().__init__(limits)
        self.server_for = server_for
        self.fallback = fallback or Launcher(limits)
        self._scratch_parent = scratch_parent
        self.owner = owner
        self.extra_env = dict(extra_env or {})
        self.on_fallback = on_fallback
        self.backends: tuple[str, ...] = ()
        self.server: ForkServer | None = None

    @property
    def scratch_parent(self) -> str | None:  # type: ignore[override]
        parent = self._scratch_parent
        return parent if parent and os.path.isdir(parent) else None

    def prepare(self, job: Any) -> None:
        self.backends = tuple(getattr(job, "backends", ()) or ())
        self._server()

    def _server(self) -> ForkServer | None:
        if self.server is not None and self.server.alive():
            return self.server
        try:
            self.server = self.server_for(self.backends)
        except ForkServerError as exc:
            self.server = None
            if self.on_fallback:
                self.on_fallback(str(exc))
        return self.server

    def start(self, scratch: Path) -> tuple[Any, int, int, int]:
        for _ in range(2):
            server = self._server()
            if server is None:
                break
            try:
                return self._start_on(server, scratch)
            except ForkServerError as exc:
                self.server = None
                last = str(exc)
        else:
            if self.on_fallback:
                self.on_fallback(last)
        return self.fallback.start(scratch)

    def _start_on(self, server: ForkServer, scratch: Path) -> tuple[Any, int, int, int]:
        if self.owner is not None:
            os.chown(scratch, *self.owner)
        env = child_environment(scratch, self.limits.threads)
        env.update(self.extra_env)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            handle = server.spawn([to_child_r, from_child_w, out_w], cwd=str(scratch), env=env, limits=self.limits)
        except BaseException:
            for fd in (to_child_w, from_child_r, out_r):
                os.close(fd)
            raise
        finally:
            for fd in (to_child_r, from_child_w, out_w):
                os.close(fd)
        return handle, to_child_w, from_child_r, out_r


class ServerPool:
    """Fork servers by (worker, backends): one per worker thread of a batch, reused for every submission.

    Servers are started from one long-lived thread of the pool's own: bubblewrap's --die-with-parent
    (PR_SET_PDEATHSIG) fires when the *thread* that started it ends, and the runner's threads are
    short-lived (one per submission).
    """

    def __init__(self, make: Callable[[tuple[str, ...]], ForkServer]):
        from concurrent.futures import ThreadPoolExecutor

        self.make = make
        self._servers: dict[tuple, ForkServer] = {}
        self._pending: dict[tuple, Any] = {}  # key -> the Future of a server being started ahead (prestart)
        self._failed: dict[tuple, str] = {}  # a server that could not start is not tried again
        self._lock = threading.Lock()
        self._closed = False
        self._new_starter = lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="adgrade-forkserver-start")
        self._starter = self._new_starter()
        self._pid = os.getpid()
        atexit.register(self.close)

    def _forked(self) -> bool:
        """In a forked copy of the process that made the pool (a worker of a process pool): the servers
        are not ours to use or to close; start afresh."""
        if os.getpid() == self._pid:
            return False
        self._pid = os.getpid()
        self._servers = {}
        self._pending = {}
        self._failed = {}
        self._lock = threading.Lock()
        self._starter = self._new_starter()
        return True

    def get(self, worker: Any, backends: tuple[str, ...]) -> ForkServer:
        key = (worker, tuple(sorted(set(backends))))
        self._forked()
        with self._lock:
            if self._closed:
                raise ForkServerError("the launcher factory was closed")
            if key[1:] in self._failed:
                raise ForkServerError(self._failed[key[1:]])
            server = self._servers.get(key)
            pending = self._pending.pop(key, None) if server is None else None
        if server is not None and server.alive():
            return server
        if server is not None:
            server.close()
        try:
            server = (pending or self._starter.submit(self.make, key[1])).result()
        except ForkServerError as exc:
            with self._lock:
                self._failed[key[1:]] = str(exc)
            raise
        with self._lock:
            self._servers[key] = server
        return server

    def prestart(self, worker: Any, backends: tuple[str, ...]) -> None:
        """Start the server `get(worker, backends)` will return, without waiting for it: `check` starts it
        (the frameworks' import) while the grader still reads the problem set and the submission."""
        key = (worker, tuple(sorted(set(backends))))
        self._forked()
        with self._lock:
            if self._closed or key in self._servers or key in self._pending or key[1:] in self._failed:
                return
            self._pending[key] = self._starter.submit(self.make, key[1])

    def close(self) -> None:
        if self._forked():
            return
        with self._lock:
            self._closed = True
            servers = list(self._servers.values())
            self._servers.clear()
            pending = list(self._pending.values())
            self._pending.clear()
        for future in pending:  # started ahead and never used
            if not future.cancel():
                try:
                    servers.append(future.result())
                except Exception:
                    pass
        for server in servers:
            try:
                server.close()
            except Exception:
                pass
        self._starter.shutdown(wait=False)
