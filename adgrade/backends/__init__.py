"""Backend registry, and the probes that spot autodiff calls.

Registry
--------
`get_backend(name, **options)` returns a cached backend instance;
`available_backends()` lists the names.  Classes are found through the
entry-point group `adgrade.backends` (pyproject.toml declares the four
built-ins there); a built-in table stands in when the package metadata is
missing (a source checkout that was never pip-installed).  Nothing here, nor
constructing a backend, imports an array framework: only `Backend.load()`
does.

Probes
------
A backend's `install_autodiff_probes(record)` replaces the framework's
autodiff entry points (module attributes such as `jax.grad`,
`torch.Tensor.backward`) by thin wrappers that call `record("jax.grad")` and
then the original.  Because the module attribute itself is replaced,
`from jax import grad` run afterwards binds the wrapper too.

* Only calls made from outside the framework count: a wrapper looks at its
  caller's module (`__name__` in the caller's globals) and stays silent when
  that is the framework itself (e.g. `torch.func.grad` calling
  `torch.autograd.grad` internally, autograd's `hessian` calling its own
  `jacobian`).  A backend's transform methods call the originals
  (`unwrap_probe`), so a grader-side `backend.grad(student_f)` records
  nothing, while autodiff the student calls inside `student_f` is recorded.
* A plain function (or `functools.partial`) returned by a recorded call is
  wrapped too, so `df = jax.grad(f)` made in an earlier cell is still spotted
  when an entry calls `df(x)` later.
* There is one recorder per process: the latest install wins.  Installing
  twice never wraps twice.
* `install_all_probes(record)` installs the probes of every framework already
  imported and, through a `sys.meta_path` finder, those of a framework (or of
  one of the watched submodules, e.g. `jax.experimental.jet`) that student
  code imports later, right after its module has executed.
* `uninstall_probes()` restores everything (tests).
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import inspect
import sys
import threading
import types
import warnings
from importlib import metadata
from typing import Any, Callable, Iterable

from .base import Backend, Recorder

__all__ = [
    "Backend",
    "BUILTIN_BACKENDS",
    "active_probes",
    "ENTRY_POINT_GROUP",
    "UnknownBackendError",
    "available_backends",
    "get_backend",
    "install_all_probes",
    "install_probe_targets",
    "set_recorder",
    "uninstall_probes",
    "unwrap_probe",
]

ENTRY_POINT_GROUP = "adgrade.backends"

#: used when the entry points are missing (package metadata not installed)
BUILTIN_BACKENDS: dict[str, str] = {
    "numpy": "adgrade.backends.numpy_backend:NumpyBackend",
    "autograd": "adgrade.backends.autograd_backend:AutogradBackend",
    "jax": "adgrade.backends.jax_backend:JaxBackend",
    "torch": "adgrade.backends.torch_backend:TorchBackend",
}


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------


class UnknownBackendError(KeyError):
    """`get_backend` was asked for a name no plugin provides."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


_registry_lock = threading.RLock()
_registry: dict[str, Any] | None = None  # name -> EntryPoint or "module:attr"
_classes: dict[str, type] = {}
_instances: dict[tuple, Backend] = {}


def _discover() -> dict[str, Any]:
    found: dict[str, Any] = dict(BUILTIN_BACKENDS)
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # broken metadata must not break the grader
        eps = ()
    for ep in eps:
        found[ep.name] = ep  # an installed plugin may replace a built-in
    return found


def _names() -> dict[str, Any]:
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = _discover()
        return _registry


def refresh_registry() -> None:
    """Forget discovered plugins and cached instances (after installing a plugin)."""
    global _registry
    with _registry_lock:
        _registry = None
        _classes.clear()
        _instances.clear()


def available_backends() -> list[str]:
    """Names of every backend (built-ins and plugins), sorted."""
    return sorted(_names())


def _load_class(target: Any) -> type:
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    return target.load()


def get_backend(name: str, **options: Any) -> Backend:
    """The backend called `name`, constructed with `options` (e.g. `x64=False`).

    Instances are cached per (name, options).  Constructing one is cheap: the
    framework is imported by its `load()` on first use.
    """
    with _registry_lock:
        names = _names()
        if name not in names:
            raise UnknownBackendError(
                f"unknown backend {name!r}; known backends: {', '.join(sorted(names))}"
            )
        cls = _classes.get(name)
        if cls is None:
            cls = _classes[name] = _load_class(names[name])
        try:  # `get_backend("jax")` and `get_backend("jax", x64=True)` are one instance
            bound = inspect.signature(cls).bind(**options)
            bound.apply_defaults()
            key = (name, tuple(sorted(bound.arguments.items())))
        except (TypeError, ValueError):
            key = (name, tuple(sorted(options.items())))
        backend = _instances.get(key)
        if backend is not None:
            return backend
        backend = cls(**options)
        if not getattr(backend, "name", ""):
            backend.name = name
        _instances[key] = backend
        return backend


# ---------------------------------------------------------------------------
# probes
# ---------------------------------------------------------------------------

_PROBE = "__adgrade_probe__"  # on a wrapper: the dotted name it records
_ORIGINAL = "__adgrade_original__"  # on a wrapper: what it wraps
_SELF_PREFIXES = ("adgrade.backends",)  # our own calls never count


class _ProbeState:
    def __init__(self) -> None:
        self.record: Recorder | None = None
        self.lock = threading.RLock()
        # (owner, attribute, original, wrapper), in the order they were patched
        self.patches: list[tuple[Any, str, Any, Any]] = []
        # module name -> {key: callback(module)}, run when that module is imported
        self.watchers: dict[str, dict[Any, Callable[[types.ModuleType], None]]] = {}
        self.finder: _PostImportFinder | None = None


_state = _ProbeState()


_active = threading.local()  # the recorded calls running now, outermost first (per thread)


def active_probes() -> tuple[str, ...]:
    """The recorded calls that are running now, outermost first: a call recorded while `jax.jvp` runs
    was made inside it (`jax.jvp(jax.grad(f), ...)` is forward-over-reverse)."""
    return tuple(getattr(_active, "stack", ()))


def _call_recorded(name: str, fn: Callable, args: Any, kwargs: Any) -> Any:
    stack = _active.__dict__.setdefault("stack", [])
    stack.append(name)
    try:
        return fn(*args, **kwargs)
    finally:
        stack.pop()


def set_recorder(record: Recorder | None) -> None:
    """Make `record` the recorder every installed probe reports to (None: silence)."""
    _state.record = record


def unwrap_probe(obj: Any) -> Any:
    """The original behind a probe (or `obj` itself when it is not one)."""
    while getattr(obj, _PROBE, None) is not None and hasattr(obj, _ORIGINAL):
        obj = getattr(obj, _ORIGINAL)
    return obj


def _is_internal(module_name: Any, prefixes: tuple[str, ...]) -> bool:
    if not isinstance(module_name, str):
        return False
    for p in prefixes:
        if module_name == p or module_name.startswith(p + "."):
            return True
    return False


def _wrap_result(value: Any, name: str, depth: int = 0) -> Any:
    """Wrap functions a recorded transform returned, so calling them records too."""
    if isinstance(value, types.FunctionType):
        return _derived(value, name)
    if isinstance(value, functools.partial):
        # covers jax.tree_util.Partial (a pytree); rebuilt with the same type
        try:
            return type(value)(_derived(value.func, name), *value.args, **(value.keywords or {}))
        except Exception:
            return value
    if depth == 0 and type(value) is tuple:  # (out, vjp_fn), (vjp_fn, ans), ...
        return tuple(_wrap_result(v, name, 1) for v in value)
    return value


def _derived(fn: Callable, name: str) -> Callable:
    if getattr(fn, _PROBE, None) is not None:
        return fn

    @functools.wraps(fn)
    def derived(*args: Any, **kwargs: Any) -> Any:
        record = _state.record
        if record is None:
            return _wrap_result(fn(*args, **kwargs), name)
        record(name)
        return _wrap_result(_call_recorded(name, fn, args, kwargs), name)

    setattr(derived, _PROBE, name)
    setattr(derived, _ORIGINAL, fn)
    return derived


def _make_probe(original: Callable, name: str, internal: tuple[str, ...]) -> Callable:
    @functools.wraps(original)
    def probe(*args: Any, **kwargs: Any) -> Any:
        record = _state.record
        if record is None:
            return original(*args, **kwargs)
        caller = sys._getframe(1).f_globals.get("__name__")
        if _is_internal(caller, internal):
            return original(*args, **kwargs)
        record(name)
        return _wrap_result(_call_recorded(name, original, args, kwargs), name)

    setattr(probe, _PROBE, name)
    setattr(probe, _ORIGINAL, original)
    return probe


def _patch(owner: Any, attr: str, name: str, internal: tuple[str, ...]) -> bool:
    current = getattr(owner, attr, None)
    if current is None or not callable(current):
        return False
    if getattr(current, _PROBE, None) is not None:
        return False  # already wrapped: never twice
    probe = _make_probe(current, name, internal)
    try:
        setattr(owner, attr, probe)
    except (AttributeError, TypeError):
        return False
    _state.patches.append((owner, attr, current, probe))
    return True


def _patch_module(module_name: str, attrs: tuple[str, ...], internal: tuple[str, ...], module: types.ModuleType) -> None:
    with _state.lock:
        for dotted in attrs:
            owner: Any = module
            parts = dotted.split(".")
            for part in parts[:-1]:
                owner = getattr(owner, part, None)
                if owner is None:
                    break
            if owner is not None:
                _patch(owner, parts[-1], f"{module_name}.{dotted}", internal)


def install_probe_targets(
    targets: Iterable[tuple[str, str]],
    record: Recorder,
    internal: Iterable[str],
) -> None:
    """Wrap each `(module, attribute path)` of `targets`, now or when imported.

    `record` becomes the process's recorder.  A target whose module is
    already imported is wrapped at once; every target module is also watched,
    so one imported later (e.g. `jax.experimental.jet`) is wrapped right after
    it executes.  Calls whose caller lives in a module under one of the
    `internal` prefixes (the framework's own packages) are not recorded.
    """
    internal_t = tuple(internal) + _SELF_PREFIXES
    set_recorder(record)
    by_module: dict[str, list[str]] = {}
    for module_name, attr in targets:
        by_module.setdefault(module_name, []).append(attr)
    for module_name, attrs in by_module.items():
        callback = functools.partial(_patch_module, module_name, tuple(attrs), internal_t)
        _when_imported(module_name, ("probes", module_name, tuple(attrs)), callback)


def install_all_probes(record: Recorder) -> None:
    """Probes for every framework a backend knows: imported ones now, the others on import.

    For each available backend that can differentiate, its
    `install_autodiff_probes(record)` runs at once when its `modules` are
    already imported, and otherwise right after student code imports one of
    them.  Imports nothing itself.
    """
    set_recorder(record)
    for name in available_backends():
        try:
            backend = get_backend(name)
        except Exception as exc:  # a broken plugin must not stop the others
            warnings.warn(f"adgrade: backend {name!r} could not be loaded: {exc}", RuntimeWarning, stacklevel=2)
            continue
        modules = tuple(getattr(backend, "modules", ()) or ())
        if not modules or not getattr(backend, "differentiable", True):
            continue
        callback = _BackendInstaller(backend, record)
        for module_name in modules:
            _when_imported(module_name, ("backend", name), callback)


class _BackendInstaller:
    def __init__(self, backend: Backend, record: Recorder) -> None:
        self.backend = backend
        self.record = record

    def __call__(self, module: types.ModuleType) -> None:
        # the recorder in force now (set_recorder may have replaced it since)
        self.backend.install_autodiff_probes(_state.record or self.record)


def uninstall_probes() -> None:
    """Put every wrapped attribute back, stop watching imports, drop the recorder."""
    with _state.lock:
        for owner, attr, original, probe in reversed(_state.patches):
            try:
                if getattr(owner, attr, None) is probe:
                    setattr(owner, attr, original)
            except (AttributeError, TypeError):
                pass
        _state.patches.clear()
        _state.watchers.clear()
        if _state.finder is not None:
            try:
                sys.meta_path.remove(_state.finder)
            except ValueError:
                pass
            _state.finder = None
        _state.record = None


# -- post-import hook -------------------------------------------------------


def _when_imported(module_name: str, key: Any, callback: Callable[[types.ModuleType], None]) -> None:
    """Run `callback(module)` now if imported, and again whenever it is (re)imported."""
    with _state.lock:
        _state.watchers.setdefault(module_name, {})[key] = callback
        if _state.finder is None or _state.finder not in sys.meta_path:
            _state.finder = _PostImportFinder()
            sys.meta_path.insert(0, _state.finder)
    module = sys.modules.get(module_name)
    if module is not None:
        _run_callback(module_name, callback, module)


def _run_callback(module_name: str, callback: Callable, module: types.ModuleType) -> None:
    try:
        callback(module)
    except Exception as exc:
        warnings.warn(
            f"adgrade: could not install autodiff probes after importing {module_name}: {exc!r}",
            RuntimeWarning,
            stacklevel=2,
        )


def _run_watchers(module_name: str, module: types.ModuleType) -> None:
    with _state.lock:
        callbacks = list(_state.watchers.get(module_name, {}).values())
    for callback in callbacks:
        _run_callback(module_name, callback, module)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loader."""

    def __init__(self) -> None:
        self._local = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _state.watchers:
            return None
        busy: set[str] = self._local.__dict__.setdefault("busy", set())
        if fullname in busy:
            return None
        busy.add(fullname)
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            busy.discard(fullname)
        if spec is None:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module") or isinstance(loader, _PostImportLoader):
            return spec
        spec.loader = _PostImportLoader(loader, fullname)
        return spec


class _PostImportLoader(importlib.abc.Loader):
    """Delegates to the real loader; runs the watchers once the module has executed.

    The real loader is put back on the spec and the module before the module
    executes, so nothing inside the framework ever sees this wrapper.
    """

    def __init__(self, loader: Any, fullname: str) -> None:
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        _run_watchers(self._fullname, sys.modules.get(self._fullname, module))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


# -- helpers the built-in backends share ------------------------------------


def _argnums(argnums: Any) -> int | tuple[int, ...]:
    """Normalise argnums: an int stays an int, any sequence becomes a tuple of ints."""
    if isinstance(argnums, (list, tuple)):
        return tuple(int(i) for i in argnums)
    return int(argnums)
