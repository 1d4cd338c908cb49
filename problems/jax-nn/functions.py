"""Trusted functions for the jax-nn problem set ("Autograd and neural networks").

Reference functions and analytic derivatives take the array namespace `xp`
first and use only the subset numpy, autograd.numpy, jax.numpy and torch
share, so `adgrade validate` can differentiate them with every backend.

Wrappers (`wrap_*`) are sent by source, alone, to the student's process: they
use only `xp`, `sub` (the student's definitions), their arguments, the global
`ad` (the backend object the engine injects) and modules they import
themselves. They never call another function of this file.

Judges (`judge_*`) run in the grader, on the plain data a wrapper returned:
`(answer, expected, args) -> None` (passed) or a message for the student.
"""

from __future__ import annotations

import difflib
import math

import numpy as np

N_IN = 64  # q1d: inputs of shape (64, 1)
N_CLASSES = 3  # q1d: three classes

# ----------------------------------------------------------------------------- q1a


def f_q1a(xp, x):
    return xp.cos(x**3 - 2 * x**2 + 5)


def f_q1a_grad(xp, x):
    return -xp.sin(x**3 - 2 * x**2 + 5) * (3 * x**2 - 4 * x)


def f_q1a_grad_missing_chain(xp, x):
    """Known mistake: the outer derivative alone, the inner 3x^2 - 4x forgotten."""
    return -xp.sin(x**3 - 2 * x**2 + 5)


def f_q1a_is_q1b_grad(xp, x):
    """Known mistake: q1b's manual_grad (3|x|x) graded as q1a's, because it replaced it."""
    return 3 * xp.abs(x) * x


def inputs_q1a(rng):
    """Six seeded points in [-2, 3] where f' is clearly non-zero, then 3.5 (the course's example)."""
    xs = []
    while len(xs) < 6:
        x = float(rng.uniform(-2.0, 3.0))
        u = x**3 - 2 * x**2 + 5
        inner = 3 * x**2 - 4 * x
        # keep away from zeros of f' (x = 0, x = 4/3, sin(u) = 0): a factor is then easy to name
        if abs(inner) > 0.3 and abs(math.sin(u)) > 0.1:
            xs.append(x)
    return [(np.float64(x),) for x in xs] + [(np.float64(3.5),)]


# ----------------------------------------------------------------------------- q1b


def f_q1b(xp, x):
    return xp.linalg.norm(x) ** 3


def f_q1b_grad(xp, x):
    return 3 * xp.linalg.norm(x) * x


def inputs_q1b(rng):
    """Vectors of lengths 1, 2, 3, 5 and 10 with norms well away from 0, then [5, 0.3, 2]."""
    out = []
    for n in (1, 2, 3, 5, 10):
        while True:
            x = rng.normal(0.0, 1.5, size=n)
            if np.linalg.norm(x) > 0.5:
                break
        out.append((x.astype(np.float64),))
    out.append((np.array([5.0, 0.3, 2.0]),))
    return out


# ---------------------------------------------------------------------- q1b-hessian


def hessian_q1b(xp, x):
    """Hessian of ||x||^3: 3 (||x|| I + x x^T / ||x||)."""
    r = xp.linalg.norm(x)
    eye = xp.eye(x.shape[0], dtype=x.dtype)
    return 3 * (r * eye + xp.outer(x, x) / r)


def wrap_hessian_norm_cubed(xp, sub, x):
    """The student's hessian_manual(f, x) with f(x) = ||x||^3 (the function of question b)."""

    def f(v):
        return xp.sqrt(xp.sum(v * v)) ** 3

    return sub.hessian_manual(f, x)


def f_unseen(xp, x):
    """A function the student has not seen: f(x) = x0 * sum(sin(x)) + log(1 + x.x)."""
    return x[0] * xp.sum(xp.sin(x)) + xp.log(1 + xp.sum(x * x))


def hessian_unseen(xp, x):
    # d2/dxj dxk [x0 S] = d_j0 cos x_k + d_k0 cos x_j - d_jk x0 sin x_j   (S = sum sin x)
    # d2/dxj dxk [log(1 + q)] = 2 d_jk / (1 + q) - 4 x_j x_k / (1 + q)^2   (q = x.x)
    n = x.shape[0]
    eye = xp.eye(n, dtype=x.dtype)
    e0 = eye[0]
    c = xp.cos(x)
    q = xp.sum(x * x)
    return (xp.outer(e0, c) + xp.outer(c, e0) - x[0] * eye * xp.sin(x)
            + 2 * eye / (1 + q) - 4 * xp.outer(x, x) / (1 + q) ** 2)


def wrap_hessian_unseen(xp, sub, x):
    """The student's hessian_manual(f, x) with a function they have not seen."""

    def f(v):
        return v[0] * xp.sum(xp.sin(v)) + xp.log(1 + xp.sum(v * v))

    return sub.hessian_manual(f, x)


def inputs_hessian_q1b(rng):
    out = []
    for n in (1, 2, 4, 6):
        while True:
            x = rng.normal(0.0, 1.5, size=n)
            if np.linalg.norm(x) > 0.5:
                break
        out.append((x,))
    out.append((np.array([5.0, 0.3, 2.0]),))
    return out


def inputs_hessian_unseen(rng):
    return [(rng.normal(0.0, 1.0, size=n),) for n in (1, 2, 3, 5)]


# ----------------------------------------------------------------------------- q1c


def _softmax(xp, scores):
    e = xp.exp(scores)
    return e / xp.sum(e, axis=0, keepdims=True)


def predict_q1c(xp, params, inputs):
    """Reference predict_nn: softmax(W2 tanh(W1 x + b1) + b2), shape (n_out, 1)."""
    W1, b1, W2, b2 = params
    hidden = xp.tanh(W1 @ inputs + b1)
    return _softmax(xp, W2 @ hidden + b2)


def predict_q1c_no_softmax(xp, params, inputs):
    """Known mistake: the raw scores, softmax never applied."""
    W1, b1, W2, b2 = params
    return W2 @ xp.tanh(W1 @ inputs + b1) + b2


def predict_q1c_softmax_wrong_axis(xp, params, inputs):
    """Known mistake: softmax normalised over axis 1 of an (n_out, 1) column: every entry is 1."""
    W1, b1, W2, b2 = params
    e = xp.exp(W2 @ xp.tanh(W1 @ inputs + b1) + b2)
    return e / e


def loss_q1c(xp, params, inputs, targets):
    """The intended loss: sum((p - t)^2) with p and t both (n_out, 1)."""
    return xp.sum((predict_q1c(xp, params, inputs) - targets) ** 2)


def _loss_q1c_grad_from(xp, params, inputs, targets, dscores_of):
    W1, b1, W2, b2 = params
    hidden = xp.tanh(W1 @ inputs + b1)
    scores = W2 @ hidden + b2
    ds = dscores_of(scores)
    dW2 = ds @ hidden.T
    db2 = ds
    dz = (W2.T @ ds) * (1 - hidden**2)
    dW1 = dz @ inputs.T
    db1 = dz
    return [dW1, db1, dW2, db2]


def loss_q1c_grad(xp, params, inputs, targets):
    """Analytic gradient of loss_q1c with respect to [W1, b1, W2, b2]."""

    def dscores(scores):
        p = _softmax(xp, scores)
        dp = 2 * (p - targets)
        # softmax Jacobian (diag(p) - p p^T) applied to dp
        return p * (dp - xp.sum(p * dp, axis=0, keepdims=True))

    return _loss_q1c_grad_from(xp, params, inputs, targets, dscores)


def loss_q1c_grad_no_softmax(xp, params, inputs, targets):
    """Known mistake: gradient of the loss when predict_nn returns the raw scores."""
    return _loss_q1c_grad_from(xp, params, inputs, targets, lambda scores: 2 * (scores - targets))


def wrap_loss_q1c(xp, sub, params, inputs, targets):
    """The intended loss through the student's predict_nn (differentiated by JAX in their process)."""
    return xp.sum((sub.predict_nn(params, inputs) - targets) ** 2)


def _params(rng, n_in, hidden, n_out):
    W1 = rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(hidden, n_in))
    b1 = rng.normal(0.0, 0.5, size=(hidden, 1))
    W2 = rng.normal(0.0, 1.0 / math.sqrt(hidden), size=(n_out, hidden))
    b2 = rng.normal(0.0, 0.5, size=(n_out, 1))
    return [W1, b1, W2, b2]


# (n_in, hidden, n_out): several widths, input sizes and class counts; hidden = 1 included
Q1C_SIZES = [(4, 5, 3), (64, 10, 3), (3, 1, 2), (7, 16, 4), (2, 6, 5)]


def inputs_q1c(rng):
    return [(_params(rng, n_in, h, n_out), rng.normal(0.0, 1.0, size=(n_in, 1)))
            for n_in, h, n_out in Q1C_SIZES]


def inputs_q1c_loss(rng):
    out = []
    for n_in, h, n_out in Q1C_SIZES:
        params = _params(rng, n_in, h, n_out)
        x = rng.normal(0.0, 1.0, size=(n_in, 1))
        t = np.zeros((n_out, 1))
        t[rng.integers(n_out), 0] = 1.0
        out.append((params, x, t))
    return out


# ------------------------------------------------- q1c starter code (warnings only)

# the same words as the loss_fun mistake message in assignment.toml
BROADCAST_MESSAGE = (
    "The starter code's targets have shape (3,) but the predictions have shape (3, 1). "
    "predictions - targets then broadcasts to a 3×3 matrix (every prediction minus every target), "
    "so the loss sums 9 squared differences instead of 3 and its gradient is wrong too. "
    "Reshape the targets to a (3, 1) column: targets.reshape(3, 1) (or targets[:, None]), "
    "or do it inside the loss: targets.reshape(preds.shape)."
)


def predict_softmax_regression(xp, params, inputs):
    """The course's softmax regression: softmax(W x + b)."""
    W, b = params
    return _softmax(xp, W @ inputs + b)


def loss_fun_expected(xp, params, inputs, targets):
    """The intended loss_fun: targets (3,) treated as the column (3, 1)."""
    return xp.sum((predict_softmax_regression(xp, params, inputs) - targets[:, None]) ** 2)


def loss_fun_broadcast(xp, params, inputs, targets):
    """The starter's loss_fun with targets (3,): (3, 1) - (3,) is a 3x3 grid."""
    return xp.sum((predict_softmax_regression(xp, params, inputs) - targets) ** 2)


def _one_hot(rng, n):
    t = np.zeros(n)
    t[rng.integers(n)] = 1.0
    return t


def inputs_loss_fun(rng):
    """Softmax regression params [W (3, 64), b (3, 1)], inputs (64, 1), targets (3,) as the starter's."""
    out = []
    for _ in range(3):
        W = rng.normal(0.0, 0.2, size=(N_CLASSES, N_IN))
        b = rng.normal(0.0, 0.5, size=(N_CLASSES, 1))
        out.append(([W, b], rng.normal(0.0, 1.0, size=(N_IN, 1)), _one_hot(rng, N_CLASSES)))
    return out


def inputs_loss_fun_nn(rng):
    """Network params for (64, 1) inputs and 3 classes, inputs (64, 1), targets (3,) as the starter's."""
    return [(_params(rng, N_IN, h, N_CLASSES), rng.normal(0.0, 1.0, size=(N_IN, 1)), _one_hot(rng, N_CLASSES))
            for h in (5, 12)]


def wrap_loss_fun_nn(xp, sub, params, inputs, targets):
    """loss_fun_nn(params, inputs, targets (3,)) beside the intended and the broadcast loss,
    all through the student's own predict_nn (so a wrong predict_nn does not count here)."""
    loss_fun_nn = sub.loss_fun_nn  # not defined: the (optional) check is skipped
    predict_nn = sub.predict_nn
    try:
        preds = predict_nn(params, inputs)
        shape = [int(n) for n in getattr(preds, "shape", ())]
        if shape != [targets.shape[0], 1]:
            return {"pred_shape": shape}
        value = float(loss_fun_nn(params, inputs, targets))
    except Exception as exc:  # noqa: BLE001 - reported to the student by the judge
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    intended = float(xp.sum((preds - targets[:, None]) ** 2))
    broadcast = float(xp.sum((preds - targets) ** 2))
    return {"value": value, "intended": intended, "broadcast": broadcast}


def _err(text):
    """An error text ready to end a sentence (no doubled full stop)."""
    return str(text).rstrip().rstrip(".")


def _same(a, b):
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-10)


def judge_loss_fun_nn(answer, expected, args):
    if not isinstance(answer, dict):
        return None
    if "error" in answer:
        return f"Could not check loss_fun_nn(params, inputs, targets): it raised {_err(answer['error'])}."
    if "pred_shape" in answer:
        return None  # predict_nn's shape is wrong: question (c) says so; nothing to add about the loss
    value, intended, broadcast = answer.get("value"), answer.get("intended"), answer.get("broadcast")
    if _same(value, intended):
        return None
    if _same(value, broadcast):
        return (f"loss_fun_nn(params, inputs, targets) with targets of shape (3,), as the starter code "
                f"passes them, gives {value:.6g} instead of {intended:.6g}. " + BROADCAST_MESSAGE)
    return (f"loss_fun_nn(params, inputs, targets) gives {value:.6g}, but the sum of squared differences "
            f"sum((predict_nn(params, inputs) - targets)**2) is {intended:.6g} (targets of shape (3,), "
            f"as the starter code passes them, taken as a (3, 1) column).")


# ----------------------------------------------------------------------------- q1d

Q1D_REQUIRED = "W1 (h, 64), b1 (h, 1), W2 (3, h), b2 (3, 1) for a hidden width h ≥ 1"


def inputs_q1d(rng):
    """One input x of shape (64, 1) and a one-hot target of shape (3, 1)."""
    t = np.zeros((N_CLASSES, 1))
    t[1, 0] = 1.0
    return [(rng.normal(0.0, 1.0, size=(N_IN, 1)), t)]


def wrap_q1d_params(xp, sub, x, t):
    """The shapes (and dtypes) of the student's W1, b1, W2, b2."""
    out = {}
    for name in ("W1", "b1", "W2", "b2"):
        value = getattr(sub, name)  # not defined: reported as such by the grader
        shape = getattr(value, "shape", None)
        out[name] = {
            "shape": None if shape is None else [int(n) for n in shape],
            "type": type(value).__name__,
            "dtype": str(getattr(value, "dtype", "")),
        }
    return out


def wrap_q1d_output(xp, sub, x, t):
    """The shape of the student's predict_nn([W1, b1, W2, b2], x) for x of shape (64, 1)."""
    params = [sub.W1, sub.b1, sub.W2, sub.b2]
    predict_nn = sub.predict_nn
    out = {"params": {n: [int(k) for k in getattr(p, "shape", ())] if hasattr(p, "shape") else None
                      for n, p in zip(("W1", "b1", "W2", "b2"), params)}}
    try:
        preds = predict_nn(params, x)
    except Exception as exc:  # noqa: BLE001 - reported to the student by the judge
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return out
    shape = getattr(preds, "shape", None)
    out["output"] = None if shape is None else [int(n) for n in shape]
    out["output_type"] = type(preds).__name__
    return out


def wrap_q1d_grad(xp, sub, x, t):
    """The shapes of the gradient of sum((predict_nn(params, x) - t)**2) with respect to params."""
    names = ("W1", "b1", "W2", "b2")
    params = [sub.W1, sub.b1, sub.W2, sub.b2]
    predict_nn = sub.predict_nn
    out = {"params": {n: [int(k) for k in getattr(p, "shape", ())] if hasattr(p, "shape") else None
                      for n, p in zip(names, params)},
           "dtypes": {n: str(getattr(p, "dtype", type(p).__name__)) for n, p in zip(names, params)}}

    def loss(ps):
        return xp.sum((predict_nn(ps, x) - t) ** 2)

    try:
        grads = ad.grad(loss)(params)  # noqa: F821 - `ad` is the backend the grader injects
    except Exception as exc:  # noqa: BLE001 - reported to the student by the judge
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return out
    if not isinstance(grads, (list, tuple)):
        out["grads"] = None
        return out
    out["grads"] = [[int(k) for k in getattr(g, "shape", ())] for g in grads]
    return out


def _shape_text(shape):
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _q1d_shape_problems(shapes):
    """Messages about W1, b1, W2, b2 given {name: shape list or None}; [] when they chain."""
    problems = []
    for name in ("W1", "b1", "W2", "b2"):
        if shapes.get(name) is None:
            problems.append(f"{name} is not an array (create it with jnp.zeros, jax.random.normal ...)")
    if problems:
        return problems
    W1, b1, W2, b2 = (tuple(shapes[n]) for n in ("W1", "b1", "W2", "b2"))

    # the hidden width h, from W1 if it can be read, else from b1 or W2
    h = None
    if len(W1) == 2 and W1[1] == N_IN:
        h = W1[0]
    elif len(W1) == 2 and W1[0] == N_IN:
        h = W1[1]
    elif len(b1) >= 1:
        h = b1[0]
    elif len(W2) == 2:
        h = W2[1]
    hh = "h" if h is None else str(h)
    if h == 0:
        problems.append("the hidden layer has width 0: choose a hidden width h ≥ 1")

    if not (len(W1) == 2 and W1[1] == N_IN):
        text = f"W1 has shape {_shape_text(W1)} but must be (h, 64): W1 @ x multiplies the input x of shape (64, 1), so W1 needs 64 columns"
        if len(W1) == 2 and W1[0] == N_IN:
            text += f"; yours looks transposed: use shape ({W1[1]}, 64)"
        problems.append(text)
    if b1 != (h, 1):
        text = f"b1 has shape {_shape_text(b1)} but must be (h, 1) = ({hh}, 1), a column with one bias per hidden unit"
        if h is not None and b1 == (h,):
            text += (f"; a flat ({h},) vector added to the ({h}, 1) column W1 @ x broadcasts to a "
                     f"matrix of shape ({h}, {h})")
        elif h is not None and b1 == (1, h):
            text += "; yours looks transposed"
        problems.append(text)
    if W2 != (N_CLASSES, h):
        text = f"W2 has shape {_shape_text(W2)} but must be (3, h) = (3, {hh}): one row per class, one column per hidden unit"
        if h is not None and W2 == (h, N_CLASSES):
            text += "; yours looks transposed"
        problems.append(text)
    if b2 != (N_CLASSES, 1):
        text = f"b2 has shape {_shape_text(b2)} but must be (3, 1), one bias per class"
        if b2 == (N_CLASSES,):
            text += "; a flat (3,) vector added to the (3, 1) column W2 @ hidden broadcasts to a matrix of shape (3, 3)"
        elif b2 == (1, N_CLASSES):
            text += "; yours looks transposed"
        problems.append(text)
    return problems


def _q1d_problems_text(problems):
    return "; ".join(problems) + f". For inputs of shape (64, 1) and 3 classes the shapes are {Q1D_REQUIRED}."


def judge_q1d_params(answer, expected, args):
    if not isinstance(answer, dict):
        return "Could not read the shapes of W1, b1, W2, b2."
    shapes = {n: (answer.get(n) or {}).get("shape") for n in ("W1", "b1", "W2", "b2")}
    problems = _q1d_shape_problems(shapes)
    if problems:
        return "Your parameter shapes do not chain: " + _q1d_problems_text(problems)
    return None


def judge_q1d_output(answer, expected, args):
    if not isinstance(answer, dict):
        return "Could not read the result of predict_nn([W1, b1, W2, b2], x)."
    problems = _q1d_shape_problems(answer.get("params") or {})
    advice = (" Your parameters: " + _q1d_problems_text(problems)) if problems else ""
    if "error" in answer:
        return (f"predict_nn([W1, b1, W2, b2], x) with x of shape (64, 1) raised {_err(answer['error'])}."
                + (advice or " Your parameter shapes chain, so the error is in predict_nn."))
    out = answer.get("output")
    if out is None:
        return (f"predict_nn([W1, b1, W2, b2], x) returned a {answer.get('output_type', 'value')}, "
                f"not an array of shape (3, 1).")
    if list(out) != [N_CLASSES, 1]:
        return (f"predict_nn([W1, b1, W2, b2], x) with x of shape (64, 1) returned shape {_shape_text(out)}; "
                f"it must be (3, 1), one probability per class." + advice)
    return None


def judge_q1d_grad(answer, expected, args):
    if not isinstance(answer, dict):
        return "Could not read the gradient of the loss."
    problems = _q1d_shape_problems(answer.get("params") or {})
    advice = (" Your parameters: " + _q1d_problems_text(problems)) if problems else ""
    if "error" in answer:
        text = (f"jax.grad of the loss sum((predict_nn(params, x) - t)**2) with respect to "
                f"params = [W1, b1, W2, b2] raised {_err(answer['error'])}.")
        if "TracerArrayConversionError" in answer["error"] or "Tracer" in answer["error"].split(":")[0]:
            text += (" JAX cannot differentiate through NumPy: predict_nn turns a traced JAX value into a "
                     "NumPy array (an np.* call such as np.tanh, or np.asarray). Use jax.numpy (jnp) inside it.")
        ints = [n for n, d in (answer.get("dtypes") or {}).items() if "int" in d]
        if ints:
            text += (f" {', '.join(ints)} {'has' if len(ints) == 1 else 'have'} an integer dtype: JAX differentiates "
                     f"only with respect to floating-point arrays; create them with floats "
                     f"(e.g. jnp.zeros((3, 1)), not jnp.zeros((3, 1), dtype=int)).")
        return text + advice
    grads = answer.get("grads")
    params = answer.get("params") or {}
    want = [params.get(n) for n in ("W1", "b1", "W2", "b2")]
    if grads is None or len(grads) != 4:
        return "The gradient with respect to [W1, b1, W2, b2] is not a list of 4 arrays." + advice
    wrong = [f"d loss/d {n} has shape {_shape_text(g)} but {n} has shape {_shape_text(w)}"
             for n, g, w in zip(("W1", "b1", "W2", "b2"), grads, want) if w is None or list(g) != list(w)]
    if wrong:
        return "The gradient does not have the parameters' shapes: " + "; ".join(wrong) + "." + advice
    return None


# --------------------------------------------------- q1d starter code (warning only)


def inputs_sgd_update(rng):
    """The network's params for (64, 1) inputs and 3 classes, the soft-max regression's [W (3, 64), b (3, 1)]
    (the starter's sgd_update sits in that model's cell and uses its grad_fun), X (64, 1), y (3, 1)."""
    t = np.zeros((N_CLASSES, 1))
    t[0, 0] = 1.0
    softmax_params = [rng.normal(0.0, 0.2, size=(N_CLASSES, N_IN)), rng.normal(0.0, 0.5, size=(N_CLASSES, 1))]
    return [(_params(rng, N_IN, 8, N_CLASSES), softmax_params, rng.normal(0.0, 1.0, size=(N_IN, 1)), t)]


def wrap_sgd_update(xp, sub, params, softmax_params, X, y):
    """Call sgd_update(params, X, y) and report whether the parameters changed (in the list passed in,
    or in what it returned). First with the network's parameters; if that raises anything but a
    NameError (a grad_fun of the soft-max regression model, as in the starter), with that model's."""
    sgd_update = sub.sgd_update  # not defined: the (optional) check is skipped

    def attempt(ps):
        before = list(ps)
        try:
            out = sgd_update(ps, X, y)
        except Exception as exc:  # noqa: BLE001 - reported to the student by the judge
            return {"error": f"{type(exc).__name__}: {exc}"[:500], "type": type(exc).__name__}
        new = ps
        if isinstance(out, (list, tuple)) and len(out) == len(before):
            new = out
        elif isinstance(out, (list, tuple)) and len(out) >= 1 and isinstance(out[0], (list, tuple)) \
                and len(out[0]) == len(before):
            new = out[0]  # (params, loss) and the like
        changed = False
        try:
            for a, b in zip(new, before):
                if a is not b and float(xp.sum(xp.abs(a - b))) > 0:
                    changed = True
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"[:500], "type": type(exc).__name__}
        return {"changed": changed, "returned": type(out).__name__}

    result = attempt(list(params))
    result["model"] = "network"
    if "error" in result and result.get("type") != "NameError":
        other = attempt(list(softmax_params))
        if "error" not in other or other.get("type") == "NameError":
            other["model"] = "soft-max regression"
            other["network_error"] = result["error"]
            result = other
    return result


SGD_NO_CHANGE = (
    "sgd_update does not change the parameters: `param -= lr * g` on a JAX array makes a new array "
    "and does not update the list; return the new parameters, e.g. "
    "`return [p - lr * g for p, g in zip(params, grads)]`, and use them: params = sgd_update(params, X, y)."
)

_SGD_RETURN_NEW = ("Return the new parameters, e.g. `return [p - lr * g for p, g in zip(params, grads)]`, "
                   "and use them: params = sgd_update(params, X, y).")


def _sgd_static_problems(facts, runtime):
    """Messages from sgd_update's source (read without running it), given what the call showed."""
    out = []
    if not facts:
        return out
    cell = facts.get("cell") or ""
    where = cell or "your code"

    def at(line):
        return f"{cell}, line {line}" if cell.startswith("cell") else f"line {line}"

    for name in facts.get("undefined") or []:
        text = (f"sgd_update uses `{name}`, which is defined nowhere in your code ({where}): "
                f"calling it stops with NameError: name '{name}' is not defined.")
        close = difflib.get_close_matches(name, facts.get("assigned") or [], n=1, cutoff=0.6)
        if close:
            text += (f" It computes `{close[0]}` and then uses `{name}`: use the same name in both places"
                     + (" (the starter code's own typo)." if name == "gradients" else "."))
        elif name == "gradients":
            text += (" The starter code computes the gradient under one name and loops over `gradients`: "
                     "use the same name in both places.")
        out.append(text)
    if runtime.get("changed"):
        return out  # the call did update the parameters: an augmented assignment there is harmless
    for rebind in facts.get("argument_rebinds") or []:
        if rebind["name"] == "params":
            out.append(f"sgd_update does not change the parameters: `{rebind['code']}` ({at(rebind['line'])}) makes a "
                       f"new list inside the function, and the caller's params stay as they were, because "
                       f"sgd_update returns nothing. Return it (`return params`) and use it: "
                       f"params = sgd_update(params, X, y).")
    for update in facts.get("loop_updates") or []:
        out.append(f"sgd_update does not change the parameters: `{update['code']}` ({at(update['line'])}) rebinds "
                   f"the loop variable `{update['name']}` of `{update['loop']}` to a new array (JAX arrays are "
                   f"immutable), and the caller's list of parameters keeps the old ones. " + _SGD_RETURN_NEW)
    return out


def judge_sgd_update(answer, expected, args):
    if not isinstance(answer, dict):
        return None
    facts = answer.get("static")
    problems = _sgd_static_problems(facts, answer)
    model = answer.get("model", "network")
    called = ("sgd_update(params, X, y)" if model == "network"
              else "sgd_update(params, X, y) with the soft-max regression's params [W, b] (its grad_fun is that "
                   "model's)")
    if "error" in answer:
        name_error = answer.get("type") == "NameError"
        covered = name_error and any(f"`{n}`" in answer["error"] or f"'{n}'" in answer["error"]
                                     for n in (facts or {}).get("undefined") or [])
        if not covered:
            text = f"{called} raised {_err(answer['error'])}."
            if name_error and "gradients" in answer["error"]:
                text += (" The starter code computes the gradient under one name and loops over `gradients`, "
                         "which is never defined: use the same name in both places.")
            problems.insert(0, text)
        if facts is None and name_error and "gradients" in answer["error"]:
            # the source could not be read: the starter's second bug goes with its first
            problems.append("Also, as written, " + SGD_NO_CHANGE)
    elif not answer.get("changed") and not problems:
        problems.append(SGD_NO_CHANGE)
    return " ".join(problems) or None
