"""Words for students: errors from their process put in course terms, inputs shown briefly."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from adgrade.runner.protocol import Opaque

# The sandbox's rules (runner/sandbox.py), in the student's words: what a failed download, a write outside the
# scratch folder or a full scratch folder look like from inside it.
SANDBOX_ERRORS: list[tuple[str, str]] = [
    (r"Network is unreachable|Temporary failure in name resolution|Name or service not known|"
     r"No address associated with hostname|nodename nor servname|getaddrinfo failed|\[Errno -[235]\]|"
     r"Errno 101|Connection refused|URLError|NewConnectionError|Max retries exceeded|ConnectionError",
     "the grader has no network: download data in a cell the checks don't need, or use the data the "
     "assignment gives."),
    (r"Read-only file system|Errno 30\b",
     "the grader lets your code write only in its scratch folder, the current working folder (also $HOME "
     "and $TMPDIR): use a relative path such as 'data/x.npy', or tempfile.mkdtemp()."),
    (r"No space left on device|Errno 28\b|Disk quota exceeded",
     "the scratch folder is full: the grader gives your code {scratch_mb} MB there; write smaller files, or "
     "none (keep results in variables)."),
    (r"^PermissionError: .*Permission denied: '/",
     "the grader lets your code read and write only its scratch folder (the current working folder), "
     "the Python installation and the data the assignment gives; use a relative path."),
]

# (pattern on "Type: message", explanation). First match wins; the original error is always shown too.
FRAMEWORK_ERRORS: list[tuple[str, str]] = [
    (r"TracerArrayConversionError|__array__\(\) .*Tracer|Tracer.*numpy",
     "JAX cannot differentiate through NumPy: your function turns a traced JAX value into a NumPy array "
     "(np.* call, np.asarray or float() on it). Use jax.numpy (jnp) everywhere inside it."),
    (r"ConcretizationTypeError|TracerBoolConversionError|TracerIntegerConversionError",
     "Python control flow (if/while/int()) on a value JAX is tracing: JAX cannot know its value while "
     "differentiating. Use jnp.where / jax.lax.cond, or move the decision out of the function."),
    (r"NonConcreteBooleanIndexError",
     "boolean-mask indexing with a traced mask: use jnp.where instead."),
    (r"does not support item assignment|JAX arrays are immutable|'ArrayImpl' object does not support",
     "JAX arrays are immutable: `a[i] = v` is not allowed; use a = a.at[i].set(v)."),
    (r"leaf Variable that requires grad is being used in an in-place operation",
     "an in-place write (x[...] = ..., x += ...) on a tensor that requires grad: build a new tensor instead "
     "(torch.cat / torch.stack / torch.where, or clone() first)."),
    (r"modified by an inplace operation",
     "a tensor needed for the gradient was changed in place afterwards: avoid in-place ops (+=, [..]=) "
     "on tensors used in the computation."),
    (r"does not require grad and does not have a grad_fn",
     "you call backward()/autograd.grad on a result that does not depend on any tensor with "
     "requires_grad=True."),
    (r"Can't call numpy\(\) on Tensor that requires grad",
     "torch cannot follow .numpy(): stay in torch operations inside a function that is differentiated."),
    (r"ArrayBox.*(assignment|setitem)|does not support item assignment.*ArrayBox|ArrayBox",
     "autograd cannot differentiate through this: in-place assignment (a[i] = ...) or a plain-NumPy call on "
     "a value it traces. Use `import autograd.numpy as np` and build new arrays instead of assigning into them."),
    (r"not callable",
     "something you call is not a function (a variable holding a number or array has the same name as a "
     "function?)."),
    (r"shapes? .* (not aligned|mismatch)|matmul: Input operand|dot_general requires contracting dimensions|"
     r"incompatible shapes|could not be broadcast|size of tensor a .* must match|mat1 and mat2 shapes",
     "array shapes do not fit: check the shapes of the arguments of your matrix products and the "
     "orientation (transposes) of your arrays."),
    (r"^MemoryError",
     "the code ran out of memory: it builds an array far larger than the task needs."),
    (r"^RecursionError",
     "infinite recursion: a function calls itself without stopping (or calls a redefined name)."),
    (r"^ZeroDivisionError", "a division by zero."),
    (r"^NotImplementedError", "not implemented yet: replace the `raise NotImplementedError` with your code."),
]


#: exceptions that, raised in the problem set's own code, are the problem set's bug whatever the student did
PROBLEM_SET_BUGS = ("NameError", "UnboundLocalError", "ImportError", "ModuleNotFoundError", "SyntaxError")


def explain_error(error: dict | None, where: str = "") -> str:
    """One message for an exception raised by the student's code."""
    if not error:
        return "it raised an error"
    etype = error.get("type", "Exception")
    message = (error.get("message") or "").strip()
    line = error.get("line")
    head = f"{etype}: {message}" if message else etype
    if etype == "NotImplementedError":
        return "not implemented yet (it raises NotImplementedError)" + (f" at line {line}" if line else "")
    if etype == "SignatureMismatch":  # runner/entries.py SignatureMismatch: the call the checks make vs. the student's
        return message
    if etype == "SystemExit":
        return f"your code called exit()/sys.exit() ({message}); remove it - the grader needs your functions to return"
    origin = error.get("problem_set")
    if isinstance(origin, dict):
        # raised in the problem set's own code (a wrapper or test function sent by source: sent_code.py)
        name, fn_line = str(origin.get("function", "?"))[:80], origin.get("line")
        if etype in PROBLEM_SET_BUGS or (etype == "AttributeError" and message.startswith("module ")):
            return (f"the problem set's own code raised {head} (in `{name}`, line {fn_line} of that function), "
                    f"not your code: this is a bug in the problem set, not in your work. Tell your instructor.")
        by = ("which your code called: check what you pass to it" if origin.get("called_by_student") else
              "which the grader runs on what your code returned: check its type and shape")
        where = (where + " " if where else "") + f"inside the problem set's `{name}`, {by}"
    if etype == "SyntaxError":
        text = error.get("text") or ""
        return f"SyntaxError at line {line}: {message}" + (f"\n    {text.strip()}" if text else "")
    out = head
    if line:
        out += f" (line {line}{'; ' + where if where else ''})"
    elif where:
        out += f" ({where})"
    hint = _framework_hint(f"{etype}: {message}")
    if etype == "NameError":
        m = re.search(r"name '([^']+)' is not defined", message)
        if m:
            hint = f"`{m.group(1)}` is used but never defined (a typo, or a cell that did not run)."
    if hint:
        out += f"\n  What it means: {hint}"
    tb = (error.get("traceback") or "").rstrip()
    if tb:
        out += "\n  Where:\n" + "\n".join("    " + ln for ln in tb.splitlines()[-8:])
    return out


def _framework_hint(text: str) -> str:
    for pattern, hint in SANDBOX_ERRORS:
        if re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL):
            from adgrade.runner.sandbox import SCRATCH_MB

            return hint.format(scratch_mb=SCRATCH_MB)
    for pattern, hint in FRAMEWORK_ERRORS:
        if re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL):
            return hint
    return ""


def show_value(value: Any, limit: int = 6) -> str:
    """A short, readable rendering of an input or answer."""
    if isinstance(value, Opaque) or hasattr(type(value), "describe"):  # Opaque, a test function (sent_code.py)
        return value.describe()
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return f"{arr.item():.6g}" if arr.dtype.kind in "fc" else str(arr.item())
        if arr.size <= limit:
            flat = ", ".join(f"{v:.6g}" if arr.dtype.kind == "f" else str(v) for v in arr.ravel())
            return f"[{flat}]" if arr.ndim == 1 else f"array{tuple(arr.shape)} [{flat}]"
        return f"an array of shape {tuple(arr.shape)}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        if len(value) <= 4:
            inner = ", ".join(show_value(v, 3) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner})"
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_value(v, 2)}" for k, v in list(value.items())[:4]) + "}"
    if callable(value):
        return getattr(value, "__name__", "a function")
    return repr(value)[:60]


def show_args(args: tuple) -> str:
    return ", ".join(show_value(a) for a in args) if args else "no arguments"
