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

`probe_module` (checks/module_probe.py) is the child half, imported by the child by name:
it runs in the untrusted process and returns plain data only. Nothing it returns is trusted
beyond being numbers: the parent recomputes every expected value itself. This module is the
kind itself (spec, requests, the structure measure, the student copy); the init and grad_norms
measures are judged in checks/module_init.py and checks/module_grad_norms.py.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from adgrade.checks.base import Check, Request
from adgrade.checks import module_grad_norms, module_init
from adgrade.checks.module_init import INIT_SEEDS
from adgrade.checks.module_probe import describe_value, grader_weights, malformed
from adgrade.checks.module_text import linear_text, linears_text, plain_arg, shape_text, show
from adgrade.feedback import explain_error
from adgrade.frozen import FrozenMiss
from adgrade.results import CheckResult
from adgrade.runner import protocol

PROBE = "adgrade.checks.module_probe:probe_module"
MEASURES = ("structure", "init", "grad_norms")
LOSSES = ("cross_entropy", "mse")
DTYPES = ("float32", "float64")
#: elementwise activations a `forward` function may call through xp (for naming a missing one)
ACTIVATIONS = ("tanh", "sigmoid", "relu", "sin", "arctan", "atan", "softplus", "elu", "gelu")

REQUIRED = {
    "structure": ("layers",),
    "init": ("init", "init_bound"),
    "grad_norms": ("init", "batch", "layers", "forward", "init_bound"),
}
FUNCTION_OPTIONS = ("layers", "forward_inputs", "output", "forward", "init_bound", "batch")


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
        return [plain_arg(a) for a in args[:n]], [plain_arg(a) for a in args[n:]]

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
            broken = malformed(self.measure, answer.value)
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
        text = f"{self.spec.entry}({', '.join(show(a) for a in ctor)})"
        if self.opt("init"):
            names = list((value or {}).get("init_signature") or [])
            shown = [f"{n}={show(a)}" if i < len(names) and isinstance(names[i], str) and names[i].isidentifier()
                     else show(a) for i, (a, n) in enumerate(zip(init_args, names + [""] * len(init_args)))]
            text = f"{self.opt('init')}(model, {', '.join(shown)}) on {text}"
        return text

    def ctor_words(self, args: tuple, value: dict) -> str:
        """`depth 10` (the student's own parameter names), or `DeepTanhNet(10)`."""
        ctor, _ = self.split(args)
        names = [n for n in (value.get("signature") or []) if isinstance(n, str) and n.isidentifier()]
        if ctor and len(names) >= len(ctor):
            return ", ".join(f"{n} {show(a)}" for n, a in zip(names, ctor))
        return f"{self.spec.entry}({', '.join(show(a) for a in ctor)})"

    def not_module(self, args: tuple, value: dict) -> str:
        return (f"{self.spec.entry}({', '.join(show(a) for a in self.split(args)[0])}) is a "
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
                   + (f": {linears_text(got)}" if 0 < len(got) <= 12 else "") + ".")
            return msg + self.registration_hint(value, len(want) - len(got))
        for k, (g, w) in enumerate(zip(got, want), start=1):
            if g != w:
                msg = (f"{self.spec.entry} with {self.ctor_words(args, value)}: layer {k} has weight shape "
                       f"{shape_text(g)}, expected {shape_text(w)} (that is {linear_text(g)} where {linear_text(w)} "
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
            shown = ", ".join(f"{n} {shape_text(s)}" for n, s in value["parameters"][:6])
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
        model_text = f"{self.spec.entry}({', '.join(show(a) for a in self.split(args)[0])})"
        for batch, out in zip(batches, outputs):
            where = f"an input of shape {shape_text(batch.shape)}"
            if not out.get("ok"):
                msg = f"{model_text} raised an error on {where}: {explain_error(out.get('error'))}"
                if batch.ndim > 2 and ok_2d:
                    msg += (f"\n  Hint: it works on flat (B, {int(np.prod(batch.shape[1:]))}) inputs; flatten "
                            f"first in forward: x = x.reshape(x.shape[0], -1) (or nn.Flatten()).")
                return msg + self.error_hint(out.get("error"))
            actual = out.get("value")
            if not isinstance(actual, np.ndarray):
                return (f"{model_text} on {where} returned {describe_value(actual)}; expected a tensor"
                        + (f" of shape {shape_text(self.expected_shape(batch))}" if self.opt("output") else "") + ".")
            if self.opt("output"):
                want = self.expected_shape(batch)
                if tuple(actual.shape) != want:
                    return (f"{model_text} on {where} returned shape {shape_text(actual.shape)}, expected "
                            f"{shape_text(want)}.")
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
        return module_init.judge_init(self, args, value)

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
        return module_grad_norms.reference_norms(self, args)

    def judge_grad_norms(self, args: tuple, value: dict) -> str:
        return module_grad_norms.judge_grad_norms(self, args, value)

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
                problems += module_init.validate_init(self, label)
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
                    problems.append(f"{label}: `forward` gives shape {shape_text(out.shape)} on "
                                    f"{shape_text(batch.shape)} but `output` says "
                                    f"{shape_text(self.expected_shape(batch))}")
        return problems


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


