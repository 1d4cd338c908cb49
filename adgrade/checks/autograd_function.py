"""`autograd_function`: a student's `torch.autograd.Function` (custom forward and backward).

Both API styles are graded the same way: `forward(ctx, x)` with `ctx.save_for_backward`, and
`forward(x)` with a separate `setup_context(ctx, inputs, output)`. The child (probe_function) calls
`Entry.apply(*args)` on float64 tensors that require grad, pulls a cotangent g back through the
student's backward (`torch.autograd.grad(y, x, g)`, the grader's own call, never recorded as the
student's), and runs `torch.autograd.gradcheck` in float64. It returns plain data. The parent compares
the forward value with `function(xp, *args)`, the backward with the vjp g·J of autodiff of `function`
(torch), and reports gradcheck's verdict. Fields and messages: docs/check-kinds/autograd_function.md.
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import numpy as np

from adgrade.backends import get_backend
from adgrade.checks.base import Request
from adgrade.checks.calls import CallCheck, to_numpy_tree
from adgrade.checks.stability import overflow_text
from adgrade.compare import compare
from adgrade.feedback import explain_error, show_args
from adgrade.runner import protocol

STYLE_WORDS = {"ctx": "forward(ctx, ...) style", "setup_context": "forward(...) + setup_context style"}


# -- the child's side ------------------------------------------------------------------------------

def probe_function(child: Any, *, entry: str, args: Any, cotangent: Any = None, gradcheck: bool = True) -> Any:
    """In the student's process: forward, backward (a vjp) and gradcheck of the student's Function."""
    import torch

    from adgrade.backends import unwrap_probe
    from adgrade.runner.child import MissingEntry

    if entry not in child.namespace:
        raise MissingEntry(entry)
    cls = child.namespace[entry]
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        return {"not_function": type(cls).__name__ if not isinstance(cls, type) else f"class {cls.__name__}"}
    overridden = getattr(cls, "setup_context", None) is not getattr(torch.autograd.Function, "setup_context", None)
    out: dict[str, Any] = {"style": "setup_context" if overridden else "ctx"}
    be = get_backend("torch")
    inputs = []
    for a in be.convert_inputs(protocol.decode(args)):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            a = a.detach().to(torch.float64).requires_grad_(True)
        inputs.append(a)
    y = cls.apply(*inputs)
    out["value"] = y.detach() if isinstance(y, torch.Tensor) else y
    differentiable = [a for a in inputs if isinstance(a, torch.Tensor) and a.requires_grad]
    if cotangent is not None and isinstance(y, torch.Tensor) and differentiable:
        g = be.asarray(protocol.decode(cotangent))
        if tuple(g.shape) == tuple(y.shape) and y.requires_grad:
            try:
                grads = unwrap_probe(torch.autograd.grad)(y, differentiable, grad_outputs=g, allow_unused=True)
                out["grads"] = [None if t is None else t.detach() for t in grads]
            except Exception as exc:  # the student's backward raised: a result, the forward still counts
                out["backward_error"] = child.describe_error(exc)
        elif not y.requires_grad:
            out["backward_error"] = {"type": "RuntimeError", "message": "the output does not require grad: "
                                     "forward returned a tensor detached from the inputs", "traceback": ""}
    if gradcheck and differentiable:
        try:
            torch.autograd.gradcheck(cls.apply, tuple(inputs), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
            out["gradcheck"] = {"ok": True}
        except Exception as exc:  # GradcheckError, or the student's code raising inside it
            out["gradcheck"] = {"ok": False, "type": type(exc).__name__, "message": str(exc)[:1500]}
    return out


# -- the parent's side -----------------------------------------------------------------------------

class AutogradFunctionCheck(CallCheck):
    kind = "autograd_function"
    uses_judge = False
    options: ClassVar[tuple[str, ...]] = ("gradcheck",)

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        if not spec.entry:
            raise fail("entry", "an 'autograd_function' check needs `entry`: the student's torch.autograd.Function "
                                "subclass, e.g. \"SoftplusFn\"")
        if spec.wrapper or spec.transform:
            raise fail("wrapper" if spec.wrapper else "transform",
                       "an 'autograd_function' check calls `entry.apply` itself; it takes no wrapper or transform")
        index = next(i for i, c in enumerate(problem.checks) if c is spec)
        if not spec.function and f"{problem.id}/{index}" not in assignment.frozen:  # a student copy: frozen
            raise fail("function", "an 'autograd_function' check needs `function`: functions.py (xp, *args) -> "
                                   "the reference forward; its derivative (torch autodiff) is the expected backward")
        if (spec.backend or problem.backend) != "torch":
            raise fail("backend", "a torch.autograd.Function is graded with backend = \"torch\"")
        if not isinstance(spec.options.get("gradcheck", True), bool):
            raise fail("gradcheck", "expected true or false")

    @property
    def gradcheck(self) -> bool:
        return bool(self.spec.options.get("gradcheck", True))

    @property
    def subject(self) -> str:
        return f"`{self.spec.entry}`"

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        extra = " and passes gradcheck" if self.gradcheck else ""
        return f"{self.subject}: forward and backward match the reference at {n} point{'s' if n != 1 else ''}{extra}"

    # -- the expected side -----------------------------------------------------------------------
    def _diff_positions(self, args: tuple) -> list[int]:
        return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

    def _cotangent(self, i: int, shape: tuple) -> np.ndarray:
        rng = np.random.default_rng(self.assignment.seed + zlib.crc32(f"{self.key}/cotangent/{i}".encode()))
        return rng.normal(size=shape)

    def prepare(self) -> None:
        if getattr(self, "_expected", None) is not None:
            return
        if self.frozen and "expected" in self.frozen:  # a student copy (adgrade export-student)
            self._expected = [protocol.decode(e) for e in self.frozen["expected"]]
            return
        backend = get_backend("torch")
        function = self.fn(self.spec.function)  # type: ignore[arg-type]
        expected = []
        for i, args in enumerate(self.inputs()):
            value = to_numpy_tree(backend, function(backend.xp, *backend.convert_inputs(args)))
            positions = self._diff_positions(tuple(args))
            g = self._cotangent(i, np.shape(value))

            def f(*diff: Any, args: tuple = tuple(args), positions: list = positions) -> Any:
                full = list(backend.convert_inputs(args))
                for p, d in zip(positions, diff):
                    full[p] = d
                return function(backend.xp, *full)

            pulled = backend.vjp(f, [args[p] for p in positions], g) if positions else ()
            expected.append({"value": value, "cotangent": g, "grads": [to_numpy_tree(backend, t) for t in pulled]})
        self._expected = expected

    # -- asking ------------------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        self.prepare()
        return [Request(f"{self.key}/{i}", "adgrade.checks.autograd_function:probe_function",
                        {"entry": self.spec.entry, "args": protocol.encode(list(args)),
                         "cotangent": protocol.encode(self._expected[i]["cotangent"]), "gradcheck": self.gradcheck},
                        self.time_limit)
                for i, args in enumerate(self.inputs())]

    # -- judging -------------------------------------------------------------------------------------
    def judge(self, answers: list):
        early = self.precheck(answers)
        if early is not None:
            return early
        entry, style = self.spec.entry, None
        for args, answer, expected in zip(self.inputs(), answers, self._expected):
            data = answer.value if isinstance(answer.value, dict) else {}
            if "not_function" in data:
                return self.result("failed", f"`{entry}` must be a subclass of torch.autograd.Function (with "
                                             f"static forward and backward), but it is {data['not_function']}.")
            style = data.get("style") if data.get("style") in STYLE_WORDS else "ctx"
            how = f" ({STYLE_WORDS[style]})"
            found = self._judge_one(tuple(args), data, expected, how)
            if found:
                return self.result("failed", found)
        return self.result("passed", style=style)

    def _judge_one(self, args: tuple, data: dict, expected: dict, how: str) -> str:
        entry, at = self.spec.entry, show_args(args)
        value = data.get("value")
        if isinstance(expected["value"], np.ndarray) and np.all(np.isfinite(expected["value"])) and \
                isinstance(value, np.ndarray) and not np.all(np.isfinite(value)):
            return f"`{entry}.forward`{how} gives NaN or inf at {at}: {overflow_text(value, args)}"
        cmp = compare(value, expected["value"], rtol=self.spec.rtol, atol=self.spec.atol,
                      require_float64=self.spec.dtype == "float64", name=f"{entry}.apply(...)")
        if not cmp.ok:
            return f"`{entry}.forward`{how} is wrong at {at}: {cmp.message}"
        if "backward_error" in data:
            return (f"`{entry}.backward`{how} raised an error at {at}: " + explain_error(data["backward_error"])
                    + self.error_hint(data["backward_error"]))
        if "grads" in data and expected["grads"]:
            grads = data["grads"] if isinstance(data["grads"], list) else []
            for k, want in enumerate(expected["grads"]):
                got = grads[k] if k < len(grads) else None
                if got is None:
                    return (f"`{entry}.backward`{how} returns no gradient for input {k + 1} at {at}: return one "
                            f"gradient per input of forward, the incoming gradient times the derivative.")
                if isinstance(got, np.ndarray) and not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
                    return (f"`{entry}.backward`{how} gives NaN or inf at {at} (the gradient of the output "
                            f"pulled back through your backward): {overflow_text(got, args)}")
                cmp = compare(got, want, rtol=self.spec.rtol, atol=self.spec.atol,
                              name=f"the gradient your {entry}.backward returns")
                if not cmp.ok:
                    return (f"`{entry}.backward`{how} is wrong at {at}: for an incoming gradient g, backward must "
                            f"return g times the derivative of forward. {cmp.message}")
        check = data.get("gradcheck")
        if isinstance(check, dict) and not check.get("ok"):
            text = str(check.get("message", ""))[:600].strip()
            return (f"torch.autograd.gradcheck (float64) fails for `{entry}` at {at}: your backward does not match "
                    f"finite differences of your forward.\n{check.get('type', 'Error')}: {text}")
        return ""

    def validate(self) -> list[str]:
        problems = []
        try:
            self.prepare()
        except Exception as exc:  # a reference forward torch cannot differentiate
            problems.append(f"{self.problem.id} / {self.name()}: the reference `{self.spec.function}` could not be "
                            f"evaluated or differentiated with torch: {type(exc).__name__}: {exc}")
        return problems
