"""The child's half of the `module` check kind (checks/module.py): runs in the student's process.

`probe_module` builds the student's torch.nn.Module and reports what a measure needs (its nn.Linear
layers, outputs, per-layer weight statistics, gradient norms) as plain data; the parent trusts none of
it beyond being numbers and recomputes every expected value itself. `grader_weights` is shared with the
parent, which recomputes the forward pass with the same seeded weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adgrade.runner import protocol

#: most weights of one layer sent back for the distribution test (extremes are exact)
MAX_SAMPLES = 4000


def probe_module(child: Any, *, measure: str, entry: str, ctor_args: Any, init: str | None = None,
                 init_args: Any = None, dtype: str = "float32", seeds: list | None = None,
                 batches: Any = None, x: Any = None, labels: Any = None, loss: str = "cross_entropy",
                 max_samples: int = MAX_SAMPLES, set_weights: dict | None = None) -> dict:
    """Build the student's module and report what `measure` needs, as plain data."""
    import torch

    cls = child.target(entry, None, None)
    init_fn = child.target(init, None, None) if init else None
    ctor = list(protocol.decode(ctor_args))
    init_a = list(protocol.decode(init_args)) if init_args is not None else []
    old_dtype = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))  # what a student's notebook runs with
    try:
        out: dict[str, Any] = {"signature": _param_names(cls, skip=0),
                               "init_signature": _param_names(init_fn, skip=1) if init_fn else []}
        if measure == "structure":
            model = _build(cls, ctor, None, [], 0)
            if not isinstance(model, torch.nn.Module):
                return {**out, "not_module": _type_name(model)}
            out.update(_describe(model))
            if set_weights:  # a student copy: the grader's own weights, whose forward pass it has frozen
                _set_weights(model, set_weights, torch)
            out["outputs"], out["calls"] = _forward_all(child, model, protocol.decode(batches), torch)
            linears = _linears(model)
            out["weights"] = [m.weight.detach().cpu() for m in linears]
            out["biases"] = [None if m.bias is None else m.bias.detach().cpu() for m in linears]
        elif measure == "init":
            out["seeds"] = []
            for seed in seeds or [0]:
                model = _build(cls, ctor, init_fn, init_a, seed)
                if not isinstance(model, torch.nn.Module):
                    return {**out, "not_module": _type_name(model)}
                out.update(_describe(model))
                out["seeds"].append([_weight_stats(m, max_samples) for m in _linears(model)])
        elif measure == "grad_norms":
            xb = np.asarray(protocol.decode(x))
            yb = np.asarray(protocol.decode(labels))
            out["seeds"] = []
            for seed in seeds or [0]:
                model = _build(cls, ctor, init_fn, init_a, seed)
                if not isinstance(model, torch.nn.Module):
                    return {**out, "not_module": _type_name(model)}
                out.update(_describe(model))
                out["seeds"].append(_grad_norms(model, xb, yb, loss, torch))
        else:
            raise ValueError(f"unknown measure {measure!r}")
        return out
    finally:
        torch.set_default_dtype(old_dtype)


def grader_weights(seed: int, index: int, shapes: list, dtype: str) -> tuple[list, list]:
    """Seeded weights and biases for layers of these shapes (as the model's dtype holds them)."""
    rng = np.random.default_rng([int(seed), int(index)])
    weights, biases = [], []
    for shape in shapes:
        bound = 1.0 / math.sqrt(max(int(np.prod(shape[1:])), 1))
        w, b = rng.uniform(-bound, bound, size=tuple(shape)), rng.uniform(-bound, bound, size=int(shape[0]))
        weights.append(w.astype(dtype).astype(np.float64))
        biases.append(b.astype(dtype).astype(np.float64))
    return weights, biases


def _set_weights(model: Any, spec: dict, torch: Any) -> None:
    """Copy grader_weights into the model's nn.Linear layers when their shapes are the expected ones."""
    linears = _linears(model)
    shapes = [list(s) for s in spec["shapes"]]
    if [list(m.weight.shape) for m in linears] != shapes:
        return  # the parent reports the wrong shapes; nothing to compare the values with
    weights, biases = grader_weights(spec["seed"], spec["index"], shapes, str(torch.get_default_dtype()).split(".")[-1])
    with torch.no_grad():
        for m, w, b in zip(linears, weights, biases):
            m.weight.copy_(torch.as_tensor(w))
            if m.bias is not None:
                m.bias.copy_(torch.as_tensor(b))


def _seed(seed: int) -> None:
    import random

    import torch

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _build(cls: Any, ctor: list, init_fn: Any, init_args: list, seed: int) -> Any:
    import torch

    _seed(seed)
    model = cls(*ctor)
    if init_fn is not None:
        returned = init_fn(model, *init_args)
        if isinstance(returned, torch.nn.Module):  # `return model` (or a new one) is accepted too
            model = returned
    return model


def _linears(model: Any) -> list:
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _param_names(fn: Any, skip: int) -> list[str]:
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:8]


def _describe(model: Any) -> dict:
    """The nn.Linear layers in model.modules() order, the parameters, and layers PyTorch cannot see."""
    import torch

    linears = _linears(model)
    params = [[name[:60], list(p.shape)] for name, p in list(model.named_parameters())[:24]]
    hidden = []  # modules kept in plain Python containers: not registered, invisible to modules()
    internal = set(vars(torch.nn.Module()))  # _modules, _parameters, hooks ...: PyTorch's own
    for name, value in list(vars(model).items())[:200]:
        if name in internal:
            continue
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
        try:
            n = sum(isinstance(v, torch.nn.Module) for v in items)
        except Exception:
            n = 0
        if n:
            hidden.append([str(name)[:60], int(n)])
    return {
        "linears": [{"shape": list(m.weight.shape), "bias": m.bias is not None,
                     "requires_grad": bool(m.weight.requires_grad)} for m in linears],
        "parameters": params,
        "unregistered": hidden,
        # the same nn.Linear object registered at several places (`[nn.Linear(a, b)] * n`)
        "repeated": int(sum(isinstance(m, torch.nn.Linear)
                            for _, m in model.named_modules(remove_duplicate=False)) - len(linears)),
        "n_parameters": int(sum(1 for _ in model.parameters())),
    }


def _forward_all(child: Any, model: Any, batches: list, torch: Any) -> tuple[list, list]:
    """The output on every batch (or the error it raised), and how often each nn.Linear ran on the first."""
    linears = _linears(model)
    counts = [0] * len(linears)
    first_counts: list[int] | None = None
    handles = []
    for i, m in enumerate(linears):
        def hook(_module, _inputs, _output, i=i):
            counts[i] += 1
        handles.append(m.register_forward_hook(hook))
    outputs = []
    try:
        for batch in batches:
            xb = _tensor(np.asarray(batch), model, torch)
            counts[:] = [0] * len(counts)
            try:
                with torch.no_grad():
                    value = model(xb)
                outputs.append({"ok": True, "value": value})
                if first_counts is None:
                    first_counts = list(counts)
            except Exception as exc:
                outputs.append({"ok": False, "error": child.describe_error(exc)})
    finally:
        for h in handles:
            h.remove()
    return outputs, first_counts if first_counts is not None else []


def _tensor(arr: np.ndarray, model: Any, torch: Any) -> Any:
    """A batch as a tensor of the model's floating dtype (the default dtype when it has none)."""
    dtype = torch.get_default_dtype()
    for p in model.parameters():
        if p.is_floating_point():
            dtype = p.dtype
            break
    return torch.tensor(np.ascontiguousarray(arr)).to(dtype)


def _weight_stats(m: Any, max_samples: int) -> dict:
    w = m.weight.detach().cpu().double().numpy().ravel()
    if w.size > max_samples:
        sample = w[np.random.default_rng(12345).choice(w.size, size=max_samples, replace=False)]
    else:
        sample = w
    bias = None
    if m.bias is not None:
        b = m.bias.detach().cpu().double().numpy().ravel()
        bias = {"n": int(b.size), "max_abs": float(np.max(np.abs(b))) if b.size else 0.0}
    finite = bool(np.all(np.isfinite(w)))
    return {
        "shape": list(m.weight.shape),
        "n": int(w.size),
        "finite": finite,
        "min": float(w.min()) if w.size and finite else 0.0,
        "max": float(w.max()) if w.size and finite else 0.0,
        "mean": float(w.mean()) if w.size and finite else 0.0,
        "std": float(w.std()) if w.size and finite else 0.0,
        "sample": np.asarray(sample, dtype=np.float64),
        "bias": bias,
    }


def _grad_norms(model: Any, xb: np.ndarray, yb: np.ndarray, loss: str, torch: Any) -> dict:
    import torch.nn.functional as F

    linears = _linears(model)
    x = _tensor(xb, model, torch)
    out = model(x)
    if loss == "cross_entropy":
        value = F.cross_entropy(out, torch.as_tensor(yb).long())
    else:
        value = F.mse_loss(out, torch.as_tensor(yb).to(out.dtype))
    wanted = [m.weight for m in linears if m.weight.requires_grad]
    grads = torch.autograd.grad(value, wanted, allow_unused=True) if wanted else []
    by_id = {id(w): g for w, g in zip(wanted, grads)}
    norms: list[float | None] = []
    for m in linears:
        g = by_id.get(id(m.weight), "frozen")
        if isinstance(g, str):
            norms.append(None)  # the weight does not require grad
        else:
            norms.append(0.0 if g is None else float(torch.linalg.vector_norm(g.detach().double())))
    sizes = [float(m.weight.detach().abs().max()) if m.weight.numel() else 0.0 for m in linears]
    return {"loss": float(value.detach()), "norms": norms, "weight_max_abs": sizes}


# -- what the parent checks of the probe's answer before reading it ------------------------------


def malformed(measure: str, value: Any) -> str:
    """Why the probe's answer is not the plain data it should be ('' when it is): it crossed from the
    student's process, so it is checked before anything reads it."""
    def is_num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    def is_shape(x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(n, int) and n >= 0 for n in x)

    if not isinstance(value, dict):
        return f"not a table but {describe_value(value)}"
    if "not_module" in value:
        return "" if isinstance(value["not_module"], str) else "bad type name"
    linears = value.get("linears")
    if not isinstance(linears, list) or not all(isinstance(m, dict) and is_shape(m.get("shape")) for m in linears):
        return "bad layer list"
    if not isinstance(value.get("unregistered", []), list) or not isinstance(value.get("parameters", []), list):
        return "bad module description"
    n = len(linears)
    if measure == "structure":
        weights, biases, outputs = value.get("weights"), value.get("biases"), value.get("outputs")
        if not (isinstance(weights, list) and len(weights) == n and isinstance(biases, list) and len(biases) == n):
            return "bad weights"
        for w, b, m in zip(weights, biases, linears):
            if not isinstance(w, np.ndarray) or list(w.shape) != m["shape"] or w.dtype.kind != "f":
                return "bad weights"
            if b is not None and (not isinstance(b, np.ndarray) or b.shape != (w.shape[0],) or b.dtype.kind != "f"):
                return "bad biases"
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            return "bad outputs"
        if not isinstance(value.get("calls", []), list) or not all(isinstance(c, int) for c in value.get("calls", [])):
            return "bad call counts"
    elif measure == "init":
        seeds = value.get("seeds")
        keys = ("n", "min", "max", "mean", "std")
        if not isinstance(seeds, list) or not seeds:
            return "bad seeds"
        for seed in seeds:
            if not isinstance(seed, list) or len(seed) != n:
                return "bad layer statistics"
            for layer in seed:
                if not isinstance(layer, dict) or not all(is_num(layer.get(k)) for k in keys) \
                        or not is_shape(layer.get("shape")) or not isinstance(layer.get("sample"), np.ndarray) \
                        or not isinstance(layer.get("finite"), bool) or layer["n"] < 0:
                    return "bad layer statistics"
                bias = layer.get("bias")
                if bias is not None and not (isinstance(bias, dict) and is_num(bias.get("max_abs"))):
                    return "bad bias statistics"
    else:
        seeds = value.get("seeds")
        if not isinstance(seeds, list) or not seeds:
            return "bad seeds"
        for seed in seeds:
            norms = seed.get("norms") if isinstance(seed, dict) else None
            sizes = seed.get("weight_max_abs", []) if isinstance(seed, dict) else None
            if not isinstance(norms, list) or len(norms) != n or not all(v is None or is_num(v) for v in norms):
                return "bad gradient norms"
            if not isinstance(sizes, list) or not all(is_num(v) for v in sizes):
                return "bad weight sizes"
    return ""


def describe_value(value: Any) -> str:
    if isinstance(value, protocol.Opaque):
        return value.describe()
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"
