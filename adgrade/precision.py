"""Which float precision the student's computation ran in: a probe for the child's side.

The answer's dtype does not tell: a `predict_nn` that casts its parameters to
float32 inside gives, under `jax.grad` with float64 parameters, a float64
gradient with float32 accuracy. So the child reports the float dtypes of the
values computed along the way, as plain strings, and the parent decides
(checks/calls.py `path_precision`, compare's `path_precision`): a float32
path is judged at float32 tolerance unless the question requires float64.
Nothing here is trusted: a false report can only loosen the tolerance to
float32's, and a wrong formula is far outside that.

JAX: the function is traced (`jax.make_jaxpr`, nothing runs), and every
intermediate value, argument and captured constant of the trace, nested
computations included, gives its dtype. torch: the function runs once more
under a `TorchFunctionMode` that records the dtype of every tensor an
operation returns. Other frameworks report nothing (None).
"""

from __future__ import annotations

from typing import Any

__all__ = ["probe_path_dtypes"]

#: bound on the jaxprs walked (a student's scan over a long loop nests, but never this deep)
_MAX_DEPTH = 32
_MAX_EQNS = 200_000


def probe_path_dtypes(child: Any, *, backend: str, args: Any, entry: str | None = None, wrapper: dict | None = None,
                      transform: str | None = None, argnums: int | list = 0, order: int = 1,
                      kwargs: Any = None) -> list[str] | None:
    """The sorted names of the float dtypes the call computes with, or None when the framework cannot tell.

    Takes the parameters of the `call` probe (runner/child.py), so a check sends the same request twice.
    """
    from adgrade.backends import get_backend
    from adgrade.runner import protocol

    be = get_backend(backend)
    fn = child.target(entry, wrapper, be)
    if transform:
        fn = be.transform(transform, fn, tuple(argnums) if isinstance(argnums, list) else argnums, order)
    call_args = be.convert_inputs(protocol.decode(args))
    call_kwargs = be.convert_inputs(protocol.decode(kwargs)) if kwargs else {}
    if backend == "jax":
        return _jax_dtypes(fn, call_args, call_kwargs)
    if backend == "torch":
        return _torch_dtypes(fn, call_args, call_kwargs)
    return None


def _jax_dtypes(fn: Any, args: Any, kwargs: dict) -> list[str]:
    import jax
    import jax.numpy as jnp

    closed = jax.make_jaxpr(lambda *a: fn(*a, **kwargs))(*args)
    found: set[str] = set()
    budget = [_MAX_EQNS]

    def note(var: Any) -> None:
        dtype = getattr(getattr(var, "aval", None), "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.inexact):
            found.add(str(dtype))

    def walk(jaxpr: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        for var in list(jaxpr.invars) + list(jaxpr.constvars):
            note(var)
        for eqn in jaxpr.eqns:
            budget[0] -= 1
            if budget[0] < 0:
                return
            for var in eqn.outvars:
                note(var)
            for param in eqn.params.values():
                for sub in jaxprs_in(param):
                    walk(sub, depth + 1)

    walk(closed.jaxpr, 0)
    for const in closed.consts:
        dtype = getattr(const, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.inexact):
            found.add(str(dtype))
    return sorted(found)


def jaxprs_in(param: Any) -> list:
    """The jaxprs inside one equation parameter (pjit's jaxpr, cond's branches, scan's body ...)."""
    if hasattr(param, "eqns") and hasattr(param, "invars"):
        return [param]
    inner = getattr(param, "jaxpr", None)
    if inner is not None and hasattr(inner, "eqns"):
        return [inner]
    if isinstance(param, (list, tuple)):
        out = []
        for item in param[:64]:
            out.extend(jaxprs_in(item))
        return out
    return []


def _torch_dtypes(fn: Any, args: Any, kwargs: dict) -> list[str]:
    import torch
    from torch.overrides import TorchFunctionMode

    found: set[str] = set()

    def note(value: Any, depth: int = 0) -> None:
        if isinstance(value, torch.Tensor):
            if value.dtype.is_floating_point or value.dtype.is_complex:
                found.add(str(value.dtype).replace("torch.", ""))
        elif isinstance(value, (list, tuple)) and depth < 4:
            for item in value[:64]:
                note(item, depth + 1)

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            note(out)
            return out

    with Recorder():
        note(fn(*args, **kwargs))
    return sorted(found)
