"""The `module` check kind: a student's torch.nn.Module, judged on what it is and how it behaves.

One kind, three measures (`measure = ...`), each with a child half and a parent half:

`structure`   the child builds `entry(*ctor_args)` and reports its nn.Linear layers (weight shapes,
              the weights themselves), how often each layer ran, and the outputs on `forward_inputs`.
              The parent checks the layer count and shapes against `layers(*ctor_args)`, the output
              shape against `output(input_shape)`, and the values against `forward(xp, weights,
              biases, x)` recomputed here with the student's own weights (a missing or extra
              activation shows up, and is named).
`init`        the child builds the model under fixed seeds, calls the student's `init(model,
              *init_args)` and reports per-layer statistics, exact extremes and a weight sample.
              The parent tests every layer against U(-b, b), b = `init_bound(fan_in, fan_out,
              *init_args)`: max|w| <= b, a seeded Kolmogorov-Smirnov test at `alpha`, max|w| close
              enough to b, biases exactly 0. A statistical failure must repeat on a second seed.
`grad_norms`  the child reports, for `seeds` seeds, the norm of the gradient of `loss` on the fixed
              `batch` with respect to every nn.Linear weight. The parent builds the reference the
              same way from functions.py alone (`layers`, `init_bound`, `forward`; biases 0) with
              torch, and compares the per-layer median log10 norms within `log10_tolerance`.

`probe_module` is the child half (imported by the child as `adgrade.checks.module:probe_module`):
it runs in the untrusted process and returns plain data only. Nothing it returns is trusted
beyond being numbers: the parent recomputes every expected value itself.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from adgrade.checks.base import Check, Request
from adgrade.feedback import explain_error
from adgrade.frozen import FrozenMiss
from adgrade.results import CheckResult
from adgrade.runner import protocol

PROBE = "adgrade.checks.module:probe_module"
MEASURES = ("structure", "init", "grad_norms")
LOSSES = ("cross_entropy", "mse")
DTYPES = ("float32", "float64")
#: seeds the init measure builds the model with: a statistical failure must show at both
INIT_SEEDS = (0, 1)
#: most weights of one layer sent back for the distribution test (extremes are exact)
MAX_SAMPLES = 4000
#: a weight may exceed the bound by this much (float32 rounding of b and of the sampler)
BOUND_RTOL = 1e-5
#: elementwise activations a `forward` function may call through xp (for naming a missing one)
ACTIVATIONS = ("tanh", "sigmoid", "relu", "sin", "arctan", "atan", "softplus", "elu", "gelu")

REQUIRED = {
    "structure": ("layers",),
    "init": ("init", "init_bound"),
    "grad_norms": ("init", "batch", "layers", "forward", "init_bound"),
}
FUNCTION_OPTIONS = ("layers", "forward_inputs", "output", "forward", "init_bound", "batch")


# =====================================================================================
# the child's half (runs in the student's process; returns plain data only)
# =====================================================================================

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


# =====================================================================================
# the parent's half
# =====================================================================================

class ModuleCheck(Check):
    kind = "module"
    options: ClassVar[tuple[str, ...]] = (
        "measure", "layers", "forward_inputs", "output", "forward", "input_dtype",
        "init", "init_bound", "alpha", "batch", "loss", "seeds", "log10_tolerance", "constructor_args",
    )

    # -- spec --------------------------------------------------------------------------
    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super().validate_spec(spec, problem, assignment)
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        opts = spec.options
        measure = opts.get("measure")
        if measure not in MEASURES:
            raise fail("measure", f"a module check needs `measure`, one of {', '.join(MEASURES)}; got {measure!r}")
        if not spec.entry:
            raise fail("entry", "a module check needs `entry`: the student's nn.Module class")
        if spec.wrapper:
            raise fail("wrapper", "a module check takes `entry` (the class), not a wrapper")
        backend = spec.backend or problem.backend
        if backend != "torch":
            raise fail("backend", f"a module check grades a torch.nn.Module: the backend must be torch, "
                                  f"not {backend!r}")
        if spec.inputs is None:
            raise fail("inputs", "a module check needs `inputs`: the constructor (and init) arguments, e.g. [[1], [3]]")
        for key in REQUIRED[measure]:
            if not opts.get(key):
                raise fail(key, f"a module check with measure = {measure!r} needs `{key}`")
        for key in FUNCTION_OPTIONS:
            if key in opts:
                name = opts[key]
                if not isinstance(name, str) or not callable(getattr(assignment.functions, name, None)):
                    raise fail(key, f"no function {name!r} in {assignment.functions_path.name}")
        if measure == "structure" and (opts.get("output") or opts.get("forward")) and not opts.get("forward_inputs"):
            raise fail("forward_inputs", "`output` and `forward` need `forward_inputs` (the batches to run)")
        if "init" in opts and not isinstance(opts["init"], str):
            raise fail("init", "the name of the student's initialisation function, e.g. \"initialize_weights\"")
        alpha = opts.get("alpha", 1e-4)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
            raise fail("alpha", f"a significance level between 0 and 0.5, got {alpha!r}")
        seeds = opts.get("seeds", 5)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 50:
            raise fail("seeds", f"the number of seeds, an integer from 1 to 50, got {seeds!r}")
        tol = opts.get("log10_tolerance", 1.0)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol <= 0:
            raise fail("log10_tolerance", f"a positive number of decades, got {tol!r}")
        if opts.get("loss", "cross_entropy") not in LOSSES:
            raise fail("loss", f"one of {', '.join(LOSSES)}, got {opts.get('loss')!r}")
        if opts.get("input_dtype", "float32") not in DTYPES:
            raise fail("input_dtype", f"one of {', '.join(DTYPES)}, got {opts.get('input_dtype')!r}")
        n_ctor = opts.get("constructor_args")
        if n_ctor is not None and (isinstance(n_ctor, bool) or not isinstance(n_ctor, int) or n_ctor < 0):
            raise fail("constructor_args", f"how many leading inputs go to the constructor, got {n_ctor!r}")
        if measure == "grad_norms" and spec.mistakes:
            raise fail("mistakes", "known mistakes are recognised by the structure and init measures only")

    # -- identity ------------------------------------------------------------------------
    @property
    def measure(self) -> str:
        return self.spec.options["measure"]

    def opt(self, key: str, default: Any = None) -> Any:
        return self.spec.options.get(key, default)

    @property
    def dtype(self) -> str:
        return self.opt("input_dtype", "float32")

    def entries_needed(self) -> list[str]:
        return [self.spec.entry] + ([self.opt("init")] if self.opt("init") else [])  # type: ignore[list-item]

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        entry = self.spec.entry
        if self.measure == "structure":
            return f"{entry}: layers, output shape and forward pass"
        if self.measure == "init":
            return f"{self.opt('init')}({entry}(...)): weight distribution per layer, biases 0"
        return f"{entry}: per-layer gradient norms on a fixed batch"

    def split(self, args: tuple) -> tuple[list, list]:
        """Constructor arguments and init arguments of one input."""
        n = self.opt("constructor_args")
        if n is None:
            n = 1 if self.opt("init") else len(args)
        return [_plain_arg(a) for a in args[:n]], [_plain_arg(a) for a in args[n:]]

    # -- asking --------------------------------------------------------------------------
    def forward_batches(self) -> list[np.ndarray]:
        if getattr(self, "_batches", None) is None:
            name = self.opt("forward_inputs")
            raw = list(self.fn(name)(np.random.default_rng(self._seed_base() + 1))) if name else []
            self._batches = [np.asarray(b[0] if isinstance(b, (tuple, list)) else b, dtype=np.float64) for b in raw]
        return self._batches

    def fixed_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if getattr(self, "_fixed", None) is None:
            x, labels = self.fn(self.opt("batch"))(np.random.default_rng(self._seed_base() + 2))
            self._fixed = (np.asarray(x, dtype=np.float64), np.asarray(labels))
        return self._fixed

    def _seed_base(self) -> int:
        return int(self.rng().integers(2**31))

    def requests(self) -> list[Request]:
        out = []
        for i, args in enumerate(self.inputs()):
            ctor, init_args = self.split(args)
            params: dict[str, Any] = {"measure": self.measure, "entry": self.spec.entry, "dtype": self.dtype,
                                      "ctor_args": protocol.encode(ctor)}
            if self.measure == "structure":
                params["batches"] = protocol.encode(self.forward_batches())
                if self.frozen and "weights_seed" in self.frozen:
                    params["set_weights"] = {"seed": self.frozen["weights_seed"], "index": i,
                                             "shapes": self.layer_shapes(args)}
            else:
                params.update(init=self.opt("init"), init_args=protocol.encode(init_args))
            if self.measure == "init":
                params["seeds"] = list(INIT_SEEDS)
            elif self.measure == "grad_norms":
                x, labels = self.fixed_batch()
                params.update(seeds=list(range(self.opt("seeds", 5))), x=protocol.encode(x),
                              labels=protocol.encode(labels), loss=self.opt("loss", "cross_entropy"))
            out.append(Request(f"{self.key}/{i}", PROBE, params, self.time_limit))
        return out

    # -- judging -------------------------------------------------------------------------
    def judge(self, answers: list) -> CheckResult:
        with _one_thread():
            return self._judge(answers)

    def _judge(self, answers: list) -> CheckResult:
        failures: list[str] = []
        for i, (args, answer) in enumerate(zip(self.inputs(), answers)):
            bad = self.process_failure(args, answer)
            if bad is not None:
                return bad
            broken = _malformed(self.measure, answer.value)
            if broken:
                return self.result("error", f"{self.built(args)}: the grader could not read what your module "
                                            f"reported ({broken}); did your code change PyTorch or the grader "
                                            f"inside its process?")
            self._current = i
            message = getattr(self, f"judge_{self.measure}")(args, answer.value)
            if message:
                failures.append(message)
        if not failures:
            return self.result("passed")
        n, k = len(self.inputs()), len(failures)
        tail = f"\n({k} of {n} {'models' if self.measure == 'structure' else 'cases'} are wrong.)" if n > 1 else ""
        return self.result("failed", failures[0] + tail)

    def process_failure(self, args: tuple, answer: Any) -> CheckResult | None:
        if answer.status == "ok":
            return None
        if answer.status == "missing":
            return self.missing_entry(answer)
        if answer.status == "error":
            return self.result("error", f"building and running {self.built(args)} raised an error: "
                               + explain_error(answer.error) + self.error_hint(answer.error))
        return self.result("timeout" if answer.status == "timeout" else "error",
                           f"{self.built(args)}: {answer.message}")

    # -- words -----------------------------------------------------------------------------
    def built(self, args: tuple, value: dict | None = None) -> str:
        ctor, init_args = self.split(args)
        text = f"{self.spec.entry}({', '.join(_show(a) for a in ctor)})"
        if self.opt("init"):
            names = list((value or {}).get("init_signature") or [])
            shown = [f"{n}={_show(a)}" if i < len(names) and isinstance(names[i], str) and names[i].isidentifier()
                     else _show(a) for i, (a, n) in enumerate(zip(init_args, names + [""] * len(init_args)))]
            text = f"{self.opt('init')}(model, {', '.join(shown)}) on {text}"
        return text

    def ctor_words(self, args: tuple, value: dict) -> str:
        """`depth 10` (the student's own parameter names), or `DeepTanhNet(10)`."""
        ctor, _ = self.split(args)
        names = [n for n in (value.get("signature") or []) if isinstance(n, str) and n.isidentifier()]
        if ctor and len(names) >= len(ctor):
            return ", ".join(f"{n} {_show(a)}" for n, a in zip(names, ctor))
        return f"{self.spec.entry}({', '.join(_show(a) for a in ctor)})"

    def not_module(self, args: tuple, value: dict) -> str:
        return (f"{self.spec.entry}({', '.join(_show(a) for a in self.split(args)[0])}) is a "
                f"{value['not_module']}, not a torch.nn.Module: define `class {self.spec.entry}(nn.Module)` "
                f"and call super().__init__() first.")

    def count_problem(self, args: tuple, value: dict) -> str:
        """The layer count and shapes against `layers(*ctor_args)`, or ''."""
        linears = value["linears"]
        name = self.opt("layers")
        if not name:
            if not linears:
                return f"{self.built(args)} has no nn.Linear layers." + self.registration_hint(value)
            return ""
        ctor, _ = self.split(args)
        want = [tuple(int(n) for n in s) for s in self.fn(name)(*ctor)]
        got = [tuple(int(n) for n in lin["shape"]) for lin in linears]
        if len(got) != len(want):
            msg = (f"expected {len(want)} nn.Linear layers for {self.ctor_words(args, value)}, found {len(got)}"
                   + (f": {_linears_text(got)}" if 0 < len(got) <= 12 else "") + ".")
            return msg + self.registration_hint(value, len(want) - len(got))
        for k, (g, w) in enumerate(zip(got, want), start=1):
            if g != w:
                msg = (f"{self.spec.entry} with {self.ctor_words(args, value)}: layer {k} has weight shape "
                       f"{_shape(g)}, expected {_shape(w)} (that is {_linear_text(g)} where {_linear_text(w)} "
                       f"belongs; nn.Linear(in, out) stores its weight as (out, in)).")
                if g == w[::-1]:
                    msg += " In and out are swapped."
                return msg
        return ""

    def registration_hint(self, value: dict, missing: int = 0) -> str:
        hints = []
        for name, n in value.get("unregistered") or []:
            hints.append(f"`self.{name}` holds {n} module(s) in a plain Python list/dict: PyTorch does not see "
                         f"them (no parameters, no .modules()). Use nn.ModuleList (or nn.Sequential/nn.ModuleDict).")
        calls = value.get("calls") or []
        if missing > 0 and (value.get("repeated") or any(c > 1 for c in calls)):
            hints.append("the same nn.Linear object is used for several layers: `[nn.Linear(a, b)] * n` repeats "
                         "one layer (its weights are shared); create a new nn.Linear for each layer.")
        if not value.get("linears") and value.get("parameters"):
            shown = ", ".join(f"{n} {_shape(s)}" for n, s in value["parameters"][:6])
            hints.append(f"its parameters are {shown}: the layers must be nn.Linear modules.")
        return "".join("\n  Hint: " + h for h in hints)

    # -- structure ---------------------------------------------------------------------------
    def judge_structure(self, args: tuple, value: dict) -> str:
        if "not_module" in value:
            return self.not_module(args, value)
        problem = self.count_problem(args, value)
        if problem:
            return problem
        outputs = value.get("outputs") or []
        batches = self.forward_batches()
        ok_2d = any(o.get("ok") and np.asarray(b).ndim == 2 for o, b in zip(outputs, batches))
        model_text = f"{self.spec.entry}({', '.join(_show(a) for a in self.split(args)[0])})"
        for batch, out in zip(batches, outputs):
            where = f"an input of shape {_shape(batch.shape)}"
            if not out.get("ok"):
                msg = f"{model_text} raised an error on {where}: {explain_error(out.get('error'))}"
                if batch.ndim > 2 and ok_2d:
                    msg += (f"\n  Hint: it works on flat (B, {int(np.prod(batch.shape[1:]))}) inputs; flatten "
                            f"first in forward: x = x.reshape(x.shape[0], -1) (or nn.Flatten()).")
                return msg + self.error_hint(out.get("error"))
            actual = out.get("value")
            if not isinstance(actual, np.ndarray):
                return (f"{model_text} on {where} returned {_describe_value(actual)}; expected a tensor"
                        + (f" of shape {_shape(self.expected_shape(batch))}" if self.opt("output") else "") + ".")
            if self.opt("output"):
                want = self.expected_shape(batch)
                if tuple(actual.shape) != want:
                    return f"{model_text} on {where} returned shape {_shape(actual.shape)}, expected {_shape(want)}."
            if self.opt("forward"):
                try:
                    message = self.forward_problem(model_text, where, args, value, batch, actual)
                except FrozenMiss:
                    message = ""  # a student copy knows the forward pass for the grader's weights only
                if message:
                    return message
        return ""

    def expected_shape(self, batch: np.ndarray) -> tuple[int, ...]:
        return tuple(int(n) for n in self.fn(self.opt("output"))(tuple(batch.shape)))

    def forward_problem(self, model_text: str, where: str, args: tuple, value: dict, batch: np.ndarray,
                        actual: np.ndarray) -> str:
        from adgrade.compare import compare
        from adgrade.diagnose import matches

        weights = [np.asarray(w, dtype=np.float64) for w in value["weights"]]
        biases = [np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
                  for w, b in zip(weights, value["biases"])]
        x = batch.astype(np.float32).astype(np.float64) if self.dtype == "float32" else batch
        expected = self.run_forward(self.opt("forward"), weights, biases, x)
        cmp = compare(actual, expected, rtol=self.spec.rtol, atol=self.spec.atol, name="the output")
        if cmp.ok:
            return ""
        whose = ("the weights and biases this check set in your layers" if self.frozen is not None
                 else "your own layers' weights and biases")
        lines = [f"{model_text} on {where}: the output is not the forward pass computed with {whose}.", cmp.message]
        cause = ""
        for mistake in self.spec.mistakes:
            try:
                if matches(actual, self.run_forward(mistake.function, weights, biases, x), rtol=1e-4, atol=1e-5):
                    cause = mistake.message
                    break
            except Exception:
                continue
        if not cause:
            cause = self.forward_cause(actual, weights, biases, x, expected)
        calls = value.get("calls") or []
        unused = [k for k, c in enumerate(calls, start=1) if c == 0]
        if not cause and unused and len(calls) == len(weights):
            cause = (f"layer{'s' if len(unused) > 1 else ''} {', '.join(map(str, unused))} never ran in forward "
                     f"(and no other layer took {'their' if len(unused) > 1 else 'its'} place).")
        if cause:
            if cmp.cause:
                lines[1] = lines[1].replace(f" Likely cause: {cmp.cause}.", "")
            lines.append(f"Likely cause: {cause}")
        return "\n".join(lines)

    def run_forward(self, name: str, weights: list, biases: list, x: np.ndarray, xp: Any = None) -> np.ndarray:
        import torch

        from adgrade.backends import get_backend

        xp = xp if xp is not None else get_backend("torch").xp
        t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
        with torch.no_grad():
            out = self.fn(name)(xp, [t(w) for w in weights], [t(b) for b in biases], t(x))
        return np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out, dtype=np.float64)

    def forward_cause(self, actual: np.ndarray, weights: list, biases: list, x: np.ndarray,
                      expected: np.ndarray) -> str:
        """Name a missing/extra activation or a softmax on the output by re-running `forward` with variants."""
        import torch

        from adgrade.backends import get_backend
        from adgrade.diagnose import matches

        xp = get_backend("torch").xp
        name = self.opt("forward")
        ok = lambda v: matches(actual, v, rtol=1e-4, atol=1e-5)  # noqa: E731
        counter = _ActivationXp(xp, skip=None)
        try:
            self.run_forward(name, weights, biases, x, counter)
        except Exception:
            return ""
        if self.frozen is not None:  # a student copy: what the frozen forward pass called, as recorded
            counter.seen, counter.calls = (self.frozen.get("activations") or {}).get(str(len(weights)), [[], 0])
        used = [a for a in counter.seen if a in ACTIVATIONS]
        e = torch.tensor(expected)
        if used:
            act = used[0]
            fn = getattr(xp, act, None)
            if fn is not None and ok(fn(e).numpy()):
                return (f"a {act} after the last layer too: the output must be the last nn.Linear's raw "
                        f"scores, with no {act} on them.")
            try:
                if ok(self.run_forward(name, weights, biases, x, _ActivationXp(xp, skip="all"))):
                    return (f"there is no {act} between the layers: without it the network is a single linear "
                            f"map, however deep. Apply {act} after every layer except the last.")
                for k in range(1, counter.calls + 1):
                    if ok(self.run_forward(name, weights, biases, x, _ActivationXp(xp, skip=k))):
                        return f"no {act} after layer {k}: every layer except the last is followed by {act}."
            except Exception:
                pass
        if expected.ndim == 2:
            if ok(torch.softmax(e, dim=1).numpy()):
                return ("your output went through softmax: return the raw scores (logits); "
                        "cross-entropy applies the (log-)softmax itself.")
            if ok(torch.log_softmax(e, dim=1).numpy()):
                return "your output went through log_softmax: return the raw scores (logits)."
        return ""

    # -- init ---------------------------------------------------------------------------------
    def bound(self, fn_name: str, shape: list, init_args: list) -> float:
        fan_out, fan_in = int(shape[0]), int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return float(self.fn(fn_name)(fan_in, fan_out, *init_args))

    def judge_init(self, args: tuple, value: dict) -> str:
        if "not_module" in value:
            return self.not_module(args, value)
        problem = self.count_problem(args, value)
        if problem:
            return problem
        _, init_args = self.split(args)
        alpha = float(self.opt("alpha", 1e-4))
        seeds = value["seeds"]
        first = seeds[0]
        bounds = [self.bound(self.opt("init_bound"), layer["shape"], init_args) for layer in first]
        # 1. what a single build shows for certain: non-finite, beyond the bound, biases not 0
        for k, (layer, b) in enumerate(zip(first, bounds), start=1):
            if not layer["finite"]:
                return f"{self.built(args, value)}: layer {k} ({_linear_text(layer['shape'])}) has NaN or inf weights."
        verdicts = [[_layer_verdict(layer, b, alpha) for layer, b in zip(seed, bounds)] for seed in seeds]
        certain = [(k, v) for k, v in enumerate(verdicts[0], start=1) if v and v[0] in ("above", "bias")]
        if certain:
            k, _ = certain[0]
            return self.init_message(args, value, k, first, bounds, init_args, alpha, verdicts[0])
        # 2. statistical evidence counts only when every seed shows it for the same layer
        for k in range(1, len(first) + 1):
            if all(len(v) >= k and v[k - 1] for v in verdicts):
                return self.init_message(args, value, k, first, bounds, init_args, alpha, verdicts[0])
        return ""

    def init_message(self, args: tuple, value: dict, k: int, layers: list, bounds: list, init_args: list,
                     alpha: float, verdicts: list) -> str:
        layer, b = layers[k - 1], bounds[k - 1]
        fan_out, fan_in = layer["shape"][0], int(np.prod(layer["shape"][1:]))
        head = (f"{self.built(args, value)}: layer {k} ({_linear_text(layer['shape'])}, fan_in {fan_in}, "
                f"fan_out {fan_out})")
        kind = verdicts[k - 1][0]
        if kind == "bias":
            msg = (f"{head}: the bias is not 0 (largest |b| = {_num(layer['bias']['max_abs'])}); every bias must "
                   f"start at exactly 0 (nn.init.zeros_(layer.bias)).")
        else:
            msg = (f"{head}: the weights lie in [{_num(layer['min'])}, {_num(layer['max'])}] with std "
                   f"{_num(layer['std'])}; expected U(−{_num(b)}, {_num(b)}), bound {_num(b)} (std "
                   f"{_num(b / math.sqrt(3))}). {verdicts[k - 1][1]}")
        wrong = sum(1 for v in verdicts if v)
        if wrong > 1:
            msg += f"\n{wrong} of {len(layers)} layers are wrong."
        cause = self.init_cause(layers, bounds, init_args, alpha, kind)
        if cause:
            msg += f"\nLikely cause: {cause}"
        return msg

    def init_cause(self, layers: list, bounds: list, init_args: list, alpha: float, kind: str) -> str:
        def all_pass(fn: Any, bias_too: bool = True) -> bool:
            for layer in layers:
                v = _layer_verdict(layer, fn(layer["shape"]), alpha)
                if v and (bias_too or v[0] != "bias"):
                    return False
            return True

        for mistake in self.spec.mistakes:
            try:
                if all_pass(lambda s, m=mistake: self.bound(m.function, s, init_args)):
                    return mistake.message
            except Exception:
                continue
        default = lambda s: 1.0 / math.sqrt(int(np.prod(s[1:])))  # noqa: E731  nn.Linear's own init
        biases = [layer["bias"] for layer in layers if layer["bias"]]
        if biases and all(bb["max_abs"] > 0 for bb in biases) and all_pass(default, bias_too=False):
            return ("this is PyTorch's default initialisation of nn.Linear (weights U(±1/√fan_in), biases not 0): "
                    "the init function did not change the layers. Modify each nn.Linear's weight and bias in "
                    "place (e.g. nn.init.uniform_(layer.weight, -b, b) and nn.init.zeros_(layer.bias)), for "
                    "every nn.Linear in model.modules().")
        if kind == "bias":
            return ""
        mins = [layer["min"] for layer in layers]
        if all(m >= 0 for m in mins):
            return ("every weight is ≥ 0: the interval must be symmetric around 0. torch.rand gives [0, 1); "
                    "use nn.init.uniform_(w, -b, b) or (2 * torch.rand(...) - 1) * b.")
        kurt = [_kurtosis(layer["sample"]) for layer in layers if len(layer["sample"]) >= 200]
        if kurt and np.median(kurt) > -0.6:
            return ("the weights are bell-shaped like a normal distribution (excess kurtosis "
                    f"{np.median(kurt):.2f}; a uniform one has −1.2): draw them from a uniform distribution "
                    "(nn.init.uniform_ / xavier_uniform_), not normal_/randn.")
        # U(-c, c) estimated from the largest layer (max|w| (n + 1)/n), then tested on every layer
        big = max(range(len(layers)), key=lambda i: layers[i]["n"])
        layer = layers[big]
        c = max(-layer["min"], layer["max"]) * (layer["n"] + 1) / max(layer["n"], 1)
        if len(layers) > 1 and max(bounds) > 1.1 * min(bounds) and all_pass(lambda s: c, bias_too=False):
            return (f"every layer has the same bound ≈ {_num(c)}, but the expected bound depends on each "
                    f"layer's fan_in and fan_out (here from {_num(min(bounds))} to {_num(max(bounds))}).")
        if bounds[big] > 0 and c > 0:
            r = c / bounds[big]
            nice = Fraction(r).limit_denominator(4)
            for factor in ([float(nice)] if abs(float(nice) - r) <= 0.03 * r and nice != 1 else []) + [r]:
                scaled = lambda s, f=factor: f * self.bound(self.opt("init_bound"), s, init_args)  # noqa: E731
                if all_pass(scaled, bias_too=False):
                    return (f"the weights look uniform with a bound {_ratio_words(factor)} the expected one in "
                            f"every layer.")
        return ""

    # -- the student copy ----------------------------------------------------------------------
    def layer_shapes(self, args: tuple) -> list[list[int]]:
        ctor, _ = self.split(args)
        return [[int(n) for n in s] for s in self.fn(self.opt("layers"))(*ctor)]

    def weights_seed(self) -> int:
        """The seed of the weights a student copy sets in the student's layers (structure with `forward`)."""
        if self.frozen and "weights_seed" in self.frozen:
            return int(self.frozen["weights_seed"])
        return int(self.rng().integers(2**31))

    def rehearse(self) -> None:
        """Every call of functions.py judging may make, at every input (export-student records them)."""
        self.prepare()
        if self.measure == "structure" and self.opt("forward") and self.opt("layers"):
            # the forward pass with the weights the copy sets in the student's layers, on every batch
            seed = self.weights_seed()
            self._weights_seed = seed
            for i, args in enumerate(self.inputs()):
                weights, biases = grader_weights(seed, i, self.layer_shapes(args), self.dtype)
                for batch in self.forward_batches():
                    x = batch.astype(np.float32).astype(np.float64) if self.dtype == "float32" else batch
                    self.run_forward(self.opt("forward"), weights, biases, x)
                    self._rehearse_variants(weights, biases, x)
                    for mistake in self.spec.mistakes:
                        try:
                            self.run_forward(mistake.function, weights, biases, x)
                        except Exception:
                            continue
        if self.opt("forward_inputs"):
            batches = self.forward_batches()
            if self.opt("output"):
                for batch in batches:
                    self.expected_shape(batch)
        if self.opt("batch"):
            self.fixed_batch()
        for i, args in enumerate(self.inputs()):
            ctor, init_args = self.split(args)
            shapes = [list(s) for s in self.fn(self.opt("layers"))(*ctor)] if self.opt("layers") else []
            for name in ([self.opt("init_bound")] if self.opt("init_bound") else []) + \
                    [m.function for m in self.spec.mistakes]:
                for shape in shapes:
                    try:
                        self.bound(name, shape, init_args)
                    except Exception:
                        break  # a mistake that does not apply here: never matched

    def _rehearse_variants(self, weights: list, biases: list, x: np.ndarray) -> None:
        """The forward pass with each activation left out (forward_cause names a missing one from these)."""
        from adgrade.backends import get_backend

        xp = get_backend("torch").xp
        counter = _ActivationXp(xp, skip=None)
        try:
            self.run_forward(self.opt("forward"), weights, biases, x, counter)
        except Exception:
            return
        if self.frozen is None:
            self._activations = getattr(self, "_activations", {})
            self._activations[str(len(weights))] = [list(counter.seen), counter.calls]
        for skip in ["all"] + list(range(1, counter.calls + 1)):
            try:
                self.run_forward(self.opt("forward"), weights, biases, x, _ActivationXp(xp, skip=skip))
            except Exception:
                continue

    def frozen_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if getattr(self, "_weights_seed", None) is not None:
            out["weights_seed"] = self._weights_seed
        if getattr(self, "_activations", None):
            out["activations"] = self._activations
        if self.measure == "grad_norms":
            self.prepare()  # the reference runs `forward` on tensors that need grad: stored as values
            out["reference"] = [protocol.encode(np.asarray(r)) for r in self._reference]
        return out

    # -- grad norms --------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.measure == "grad_norms" and getattr(self, "_reference", None) is None and self.frozen \
                and "reference" in self.frozen:
            self._reference = [np.asarray(protocol.decode(r), dtype=np.float64) for r in self.frozen["reference"]]
        if self.measure == "grad_norms" and getattr(self, "_reference", None) is None:
            with _one_thread():
                self._reference = [self.reference_norms(args) for args in self.inputs()]

    def reference_norms(self, args: tuple) -> np.ndarray:
        """(seeds, layers) gradient norms of the reference model built from functions.py, with torch."""
        import torch
        import torch.nn.functional as F

        from adgrade.backends import get_backend

        xp = get_backend("torch").xp
        ctor, init_args = self.split(args)
        shapes = [tuple(int(n) for n in s) for s in self.fn(self.opt("layers"))(*ctor)]
        xb, labels = self.fixed_batch()
        x = torch.tensor(xb, dtype=torch.float64)
        out = np.zeros((int(self.opt("seeds", 5)), len(shapes)))
        for s in range(out.shape[0]):
            rng = np.random.default_rng([self._seed_base(), s])
            weights = []
            for shape in shapes:
                b = self.bound(self.opt("init_bound"), list(shape), init_args)
                weights.append(torch.tensor(rng.uniform(-b, b, size=shape), dtype=torch.float64, requires_grad=True))
            biases = [torch.zeros(shape[0], dtype=torch.float64) for shape in shapes]
            logits = self.fn(self.opt("forward"))(xp, weights, biases, x)
            if self.opt("loss", "cross_entropy") == "cross_entropy":
                loss = F.cross_entropy(logits, torch.as_tensor(labels).long())
            else:
                loss = F.mse_loss(logits, torch.as_tensor(labels, dtype=torch.float64))
            grads = torch.autograd.grad(loss, weights)
            out[s] = [float(torch.linalg.vector_norm(g)) for g in grads]
        return out

    def judge_grad_norms(self, args: tuple, value: dict) -> str:
        if "not_module" in value:
            return self.not_module(args, value)
        problem = self.count_problem(args, value)
        if problem:
            return problem
        self.prepare()
        ref = self._reference[self._current]
        tol = float(self.opt("log10_tolerance", 1.0))
        norms = [seed["norms"] for seed in value["seeds"]]
        shapes = [lin["shape"] for lin in value["linears"]]
        head = self.built(args, value)
        for k in range(len(shapes)):
            column = [n[k] for n in norms]
            if any(v is None for v in column):
                return (f"{head}: layer {k + 1} ({_linear_text(shapes[k])}): its weight does not require "
                        f"grad, so it gets no gradient (requires_grad was switched off, or the weight was "
                        f"replaced by a plain tensor instead of being changed in place).")
            if not all(math.isfinite(v) for v in column):
                return f"{head}: layer {k + 1} ({_linear_text(shapes[k])}): the gradient is NaN or infinite."
        with np.errstate(divide="ignore"):
            mine = np.median(np.log10(np.asarray(norms, dtype=np.float64)), axis=0)
            theirs = np.median(np.log10(ref), axis=0)
        bad = [k for k in range(len(shapes)) if not abs(mine[k] - theirs[k]) <= tol]
        if not bad:
            return ""
        k = bad[0]
        n_seeds = len(norms)
        apart = abs(mine[k] - theirs[k])
        msg = (f"{head}: layer {k + 1} ({_linear_text(shapes[k])}): the median norm of the weight gradient over "
               f"{n_seeds} seed{'s' if n_seeds != 1 else ''} is {_sci(10 ** mine[k])}, the reference's "
               f"{_sci(10 ** theirs[k])}"
               + (f": {apart:.1f} orders of magnitude apart (allowed: {tol:g})." if math.isfinite(apart) else "."))
        if all(n[k] == 0 for n in norms):
            sizes = value["seeds"][0].get("weight_max_abs") or []
            zero = [j + 1 for j, w in enumerate(sizes) if j > k and w == 0]
            if zero:
                msg += (f" The gradient is exactly 0 because the weights of layer {zero[0]} are all 0 after "
                        f"initialisation: no gradient flows back through it.")
            else:
                msg += " The gradient is exactly 0: does the layer take part in forward (not unused, not detached)?"
        msg += (f"\nlog10 of the gradient norm per layer, input to output:\n  yours:     {_row(mine)}\n"
                f"  reference: {_row(theirs)}")
        if len(bad) > 1:
            msg += f"\n{len(bad)} of {len(shapes)} layers are outside the tolerance."
        return msg

    # -- adgrade validate --------------------------------------------------------------------------
    def validate(self) -> list[str]:
        with _one_thread():
            return self._validate()

    def _validate(self) -> list[str]:
        problems: list[str] = []
        label = f"{self.problem.id} / {self.name()}"
        try:
            if self.measure == "structure":
                problems += self._validate_structure(label)
            elif self.measure == "init":
                problems += self._validate_init(label)
            else:
                for args in self.inputs():
                    ref = self.reference_norms(args)
                    if not np.all(np.isfinite(ref)) or np.any(ref <= 0):
                        problems.append(f"{label}: the reference's gradient norms at {list(args)} are not all "
                                        f"finite and positive: {ref.tolist()}")
        except Exception as exc:
            problems.append(f"{label}: the expected side raised {type(exc).__name__}: {exc}")
        return problems

    def _validate_structure(self, label: str) -> list[str]:
        problems = []
        rng = np.random.default_rng(0)
        for args in self.inputs():
            ctor, _ = self.split(args)
            shapes = [tuple(int(n) for n in s) for s in self.fn(self.opt("layers"))(*ctor)]
            weights = [rng.uniform(-0.1, 0.1, size=s) for s in shapes]
            biases = [rng.uniform(-0.1, 0.1, size=s[0]) for s in shapes]
            for batch in self.forward_batches():
                if not self.opt("forward"):
                    continue
                out = self.run_forward(self.opt("forward"), weights, biases, batch)
                if self.opt("output") and tuple(out.shape) != self.expected_shape(batch):
                    problems.append(f"{label}: `forward` gives shape {_shape(out.shape)} on {_shape(batch.shape)} "
                                    f"but `output` says {_shape(self.expected_shape(batch))}")
        return problems

    def _validate_init(self, label: str) -> list[str]:
        """With `layers`: U(-b, b) weights pass the test, and every known mistake is told apart."""
        if not self.opt("layers"):
            return []
        problems = []
        alpha = float(self.opt("alpha", 1e-4))
        rng = np.random.default_rng(0)
        for args in self.inputs():
            ctor, init_args = self.split(args)
            shapes = [list(s) for s in self.fn(self.opt("layers"))(*ctor)]
            bounds = [self.bound(self.opt("init_bound"), s, init_args) for s in shapes]
            if any(not b >= 0 for b in bounds):
                problems.append(f"{label}: `init_bound` gives {bounds} at {list(args)}: a bound must be ≥ 0")
                continue
            layers = [_simulated_layer(rng, s, b) for s, b in zip(shapes, bounds)]
            if any(_layer_verdict(layer, b, alpha) for layer, b in zip(layers, bounds)):
                problems.append(f"{label}: simulated U(-b, b) weights fail the test at {list(args)} "
                                f"(alpha = {alpha} too large?)")
            for mistake in self.spec.mistakes:
                wrong = [self.bound(mistake.function, s, init_args) for s in shapes]
                sim = [_simulated_layer(rng, s, b) for s, b in zip(shapes, wrong)]
                if not any(_layer_verdict(layer, b, alpha) for layer, b in zip(sim, bounds)):
                    problems.append(f"{label}: mistake `{mistake.function}` passes the test at {list(args)}: "
                                    f"it cannot be told apart from the right bound there")
        return problems


def _malformed(measure: str, value: Any) -> str:
    """Why the probe's answer is not the plain data it should be ('' when it is): it crossed from the
    student's process, so it is checked before anything reads it."""
    def is_num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    def is_shape(x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(n, int) and n >= 0 for n in x)

    if not isinstance(value, dict):
        return f"not a table but {_describe_value(value)}"
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


@contextmanager
def _one_thread():
    """Torch on one thread for the parent's small models: a thread pool only adds waiting (and on a busy
    machine a lot of it); the child is pinned to one thread by the runner already."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# -- the statistics ------------------------------------------------------------------------------

def _layer_verdict(layer: dict, b: float, alpha: float) -> tuple[str, str] | None:
    """None when one layer's weights look U(-b, b) and its bias is 0; else (kind, why)."""
    bias = layer.get("bias")
    if bias and bias["max_abs"] != 0:
        return ("bias", "")
    if not layer["finite"]:
        return ("above", "Some weights are NaN or infinite.")
    n = int(layer["n"])
    if n == 0:
        return None
    largest = max(abs(layer["min"]), abs(layer["max"]))
    if largest > b * (1 + BOUND_RTOL) + 1e-30:
        return ("above", f"{_num(largest)} is outside the bound.")
    if b == 0:
        return None
    # max|w| of n draws from U(-b, b) is below b(1 - eps) with probability (1 - eps)^n = alpha
    eps = -math.expm1(math.log(alpha) / n)
    if largest < b * (1 - eps):
        return ("below", f"The largest |w| is {_num(largest)}; with {n} weights from U(−b, b) it would be "
                         f"above {_num(b * (1 - eps))} (the bound is too small).")
    sample = np.sort(np.asarray(layer["sample"], dtype=np.float64))
    if sample.size >= 20:
        d, p = _ks_uniform(sample, b)
        if p < alpha:
            return ("shape", f"Their distribution is not U(−b, b) (Kolmogorov–Smirnov D = {d:.3f}, "
                             f"p = {p:.1e} on {sample.size} weights).")
    return None


def _ks_uniform(sorted_sample: np.ndarray, b: float) -> tuple[float, float]:
    """One-sample Kolmogorov–Smirnov statistic against U(-b, b), and its p-value (Stephens' approximation)."""
    n = sorted_sample.size
    cdf = np.clip((sorted_sample + b) / (2 * b), 0.0, 1.0)
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 0.3:
        return d, 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def _kurtosis(sample: Any) -> float:
    s = np.asarray(sample, dtype=np.float64)
    s = s - s.mean()
    var = float(np.mean(s ** 2))
    return float(np.mean(s ** 4) / var ** 2 - 3.0) if var > 0 else 0.0


def _simulated_layer(rng: np.random.Generator, shape: list, b: float) -> dict:
    w = rng.uniform(-b, b, size=int(np.prod(shape))).astype(np.float32).astype(np.float64)
    sample = w if w.size <= MAX_SAMPLES else rng.choice(w, size=MAX_SAMPLES, replace=False)
    return {"shape": shape, "n": int(w.size), "finite": True, "min": float(w.min()), "max": float(w.max()),
            "mean": float(w.mean()), "std": float(w.std()), "sample": sample, "bias": {"n": shape[0], "max_abs": 0.0}}


class _ActivationXp:
    """`xp` for a `forward` function, with one or all calls of its activation left out."""

    def __init__(self, xp: Any, skip: int | str | None):
        self._xp, self._skip = xp, skip
        self.calls = 0
        self.seen: list[str] = []
        #: how a student copy looks up a forward pass made with this namespace (adgrade/frozen.py)
        self.frozen_key = f"xp/skip={skip}"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._xp, name)
        if name not in ACTIVATIONS:
            return attr
        if name not in self.seen:
            self.seen.append(name)

        def call(z: Any, *a: Any, **k: Any) -> Any:
            self.calls += 1
            if self._skip == "all" or self._skip == self.calls:
                return z
            return attr(z, *a, **k)

        return call


# -- words ------------------------------------------------------------------------------------------

def _plain_arg(a: Any) -> Any:
    if isinstance(a, np.generic):
        return a.item()
    if isinstance(a, np.ndarray) and a.ndim == 0:
        return a.item()
    return a


def _show(a: Any) -> str:
    if isinstance(a, bool):
        return str(a)
    if isinstance(a, float):
        return f"{a:g}"
    return str(a) if isinstance(a, (int, str)) else repr(a)[:40]


def _shape(shape: Any) -> str:
    shape = tuple(int(n) for n in shape)
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def _linear_text(shape: Any) -> str:
    shape = [int(n) for n in shape]
    return f"nn.Linear({shape[1]}, {shape[0]})" if len(shape) == 2 else f"a layer of weight shape {_shape(shape)}"


def _linears_text(shapes: list) -> str:
    return ", ".join(_linear_text(s) for s in shapes)


def _describe_value(value: Any) -> str:
    if isinstance(value, protocol.Opaque):
        return value.describe()
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _num(x: float) -> str:
    x = float(x)
    return f"{x:.4g}".replace("-", "−")


def _sci(x: float) -> str:
    return "0" if x == 0 else f"{float(x):.2e}"


def _row(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:6.1f}" if math.isfinite(v) else f"{v:>6}" for v in values) + "]"


def _ratio_words(r: float) -> str:
    fr = Fraction(r).limit_denominator(4)
    if fr.numerator <= 8 and abs(float(fr) - r) <= 1e-9 * r and fr != 1:
        text = str(fr.numerator) if fr.denominator == 1 else f"{fr.numerator}/{fr.denominator}"
        return f"{text} times"
    return f"about {r:.3g} times"
