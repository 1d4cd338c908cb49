"""Reference functions, analytic solutions, inputs and known mistakes for
"Automatic differentiation" (autodiff-exercises).

Every `(xp, ...)` function is written once against the array namespace it is
handed (numpy, autograd.numpy, jax.numpy or torch, float64), so that
`adgrade validate` can differentiate each `f_*` with all three frameworks and
compare with the analytic `*_grad` / `*_hess`. Known-mistake functions and
judges run in the trusted parent with xp = numpy. Input generators return
NumPy float64 data (Python ints/floats where an entry takes a plain number).
"""

import math

import numpy as np

# ----------------------------------------------------------------------------
# e1: Taylor approximation of cos (autograd)
# ----------------------------------------------------------------------------

E1_TOL = 1e-6
E1_GRAD_TOL = 1e-5


def cos_e1(xp, x):
    return xp.cos(x)


def cos_e1_grad(xp, x):
    return -xp.sin(x)


def inputs_e1(rng):
    """The ends and the middle of [-pi, pi] (where a short series is worst/best), plus random points."""
    points = [-math.pi, math.pi, 0.0, 3.0, -2.5]
    points += list(rng.uniform(-math.pi, math.pi, size=5))
    return [(np.float64(p),) for p in points]


def _taylor_cos_partial_sums(x, max_terms=40):
    """cos's Taylor partial sums 1, 1 - x²/2, 1 - x²/2 + x⁴/24, ... at x (float)."""
    sums, term, total = [], 1.0, 0.0
    for k in range(max_terms):
        total += term
        sums.append(total)
        term = -term * x * x / ((2 * k + 1) * (2 * k + 2))
    return sums


def _as_number(answer):
    """The student's answer as a float, or a message saying why it is not a single number."""
    if answer is None or isinstance(answer, (list, tuple, dict, str, bool)):
        return None, f"{type(answer).__name__}"
    try:
        arr = np.asarray(answer)
        if arr.dtype.kind not in "iuf":
            raise TypeError
        arr = arr.astype(np.float64)
    except Exception:
        describe = getattr(answer, "describe", None)
        return None, describe() if callable(describe) else type(answer).__name__
    if arr.size != 1:
        return None, f"an array of shape {tuple(arr.shape)}"
    return float(arr.reshape(())), ""


def _truncation_hint(got, partial_sums, what):
    """Words for a value that equals one of the series' partial sums (too few terms), or ""."""
    for k, s in enumerate(partial_sums):
        if abs(got - s) <= 1e-12 * max(1.0, abs(s)):
            last = "the constant term 1" if k == 0 else f"the x^{2 * k} term"
            return (f" {what} the series cut off after {last} ({k + 1} terms): too few terms. "
                    f"The error of a truncated series grows with |x| and is largest at ±π; keep adding terms "
                    f"until they are smaller than about 1e-8 (about 12 terms on [−π, π]).")
    return ""


def judge_taylor_cosine(answer, expected, args):
    """taylor_cosine(x) within 1e-6 of cos(x); when not, say whether the series was cut short."""
    x = float(np.asarray(args[0], dtype=np.float64))
    want = float(np.asarray(expected, dtype=np.float64))
    got, what = _as_number(answer)
    if got is None:
        return (f"taylor_cosine({x:.6g}) returned {what}, expected a single number "
                f"(the approximation of cos({x:.6g}) = {want:.10g}).")
    if not math.isfinite(got):
        return f"taylor_cosine({x:.6g}) returned {got}, expected cos({x:.6g}) = {want:.10g}."
    err = abs(got - want)
    if err <= E1_TOL:
        return None
    head = (f"taylor_cosine({x:.6g}) = {got:.10g} but cos({x:.6g}) = {want:.10g}: error {err:.2e}, "
            f"more than the allowed {E1_TOL:g}.")
    hint = _truncation_hint(got, _taylor_cos_partial_sums(x), "Your value is")
    if hint:
        return head + hint
    return (head + " It is not a partial sum of cos's series Σ (−1)^k x^(2k)/(2k)!: check the signs, "
                   "the powers (even only) and the factorials.")


def judge_taylor_cosine_grad(answer, expected, args):
    """autograd.grad(taylor_cosine)(x) within 1e-5 of −sin(x); when not, say whether the series was cut short."""
    x = float(np.asarray(args[0], dtype=np.float64))
    want = float(np.asarray(expected, dtype=np.float64))
    got, what = _as_number(answer)
    if got is None:
        return (f"autograd.grad(taylor_cosine)({x:.6g}) returned {what}, expected a single number "
                f"(−sin({x:.6g}) = {want:.10g}).")
    if not math.isfinite(got):
        return (f"autograd.grad(taylor_cosine)({x:.6g}) = {got}, expected −sin({x:.6g}) = {want:.10g}: "
                f"a term such as x**(2k) with k = 0 differentiated at x = 0, or a division by 0?")
    err = abs(got - want)
    if err <= E1_GRAD_TOL:
        return None
    head = (f"autograd.grad(taylor_cosine)({x:.6g}) = {got:.10g} but −sin({x:.6g}) = {want:.10g}: "
            f"error {err:.2e}, more than the allowed {E1_GRAD_TOL:g}.")
    # d/dx of the partial sum up to x^(2K) is Σ_{1≤k≤K} (−1)^k x^(2k−1) / (2k−1)!
    sums, total, term = [0.0], 0.0, -x
    for k in range(1, 40):
        total += term
        sums.append(total)
        term = -term * x * x / ((2 * k) * (2 * k + 1))
    hint = _truncation_hint(got, sums, "It is the derivative of")
    if hint:
        return head + hint
    return head + (" It is not the derivative of a partial sum of cos's series: does autograd see every operation "
                   "on x (autograd.numpy functions, no math.* calls or float() on x)?")


# ----------------------------------------------------------------------------
# e2: linear regression by gradient descent, manual (NumPy) and PyTorch autograd
# ----------------------------------------------------------------------------

def linreg_trajectory(xp, X, Y, learning_rate=0.01, n_iters=20):
    """w after each epoch of gradient descent on mean((w·x − y)²) from w₀ = 0."""
    w = 0.0 * xp.sum(X)
    out = []
    for _ in range(n_iters):
        dw = xp.mean(2 * X * (w * X - Y))
        w = w - learning_rate * dw
        out.append(w)
    return out


def _np_trajectory(X, Y, learning_rate, n_iters, factor=1.0, accumulate=False):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w, acc, out = 0.0, 0.0, []
    for _ in range(n_iters):
        g = factor * float(np.mean(2 * X * (w * X - Y)))
        acc = acc + g if accumulate else g
        w = w - learning_rate * acc
        out.append(w)
    return out


def linreg_trajectory_sum(xp, X, Y, learning_rate=0.01, n_iters=20):
    """The starter's gradient np.dot(2*x, y_pred - y).mean(): a sum over the N samples, N times too big."""
    return _np_trajectory(X, Y, learning_rate, n_iters, factor=float(np.asarray(X).shape[0]))


def linreg_trajectory_accumulated(xp, X, Y, learning_rate=0.01, n_iters=20):
    """PyTorch without w.grad.zero_(): every backward() adds to the previous gradients."""
    return _np_trajectory(X, Y, learning_rate, n_iters, accumulate=True)


def linreg_trajectory_aliased(xp, X, Y, learning_rate=0.01, n_iters=20):
    """The tensor w itself appended each epoch and updated in place: every entry is the final w."""
    final = _np_trajectory(X, Y, learning_rate, n_iters)[-1]
    return [final] * n_iters


def inputs_e2_course(rng):
    """The course's data (N = 4) with the default and with other step sizes, and other data of N = 4."""
    X = np.array([1.0, 2.0, 3.0, 4.0])
    Y = 2.0 * X
    X2 = np.round(rng.uniform(0.5, 2.5, size=4), 3)
    Y2 = 3.0 * X2 + np.round(rng.normal(0.0, 0.3, size=4), 3)
    return [(X, Y), (X, Y, 0.02, 12), (X2, Y2, 0.01, 25)]


def inputs_e2_other(rng):
    """Data of another size (N = 7): a hard-coded 4 or the global X/Y of the starter shows here."""
    X = np.round(rng.uniform(0.5, 2.0, size=7), 3)
    Y = -1.5 * X + np.round(rng.normal(0.0, 0.2, size=7), 3)
    X2 = np.round(rng.uniform(-2.0, 2.0, size=7), 3)
    Y2 = 0.5 * X2 + np.round(rng.normal(0.0, 0.2, size=7), 3)
    return [(X, Y, 0.01, 20), (X2, Y2, 0.05, 15)]


def inputs_e2_timing(rng):
    X = rng.uniform(0.5, 2.0, size=1000)
    Y = 2.0 * X + rng.normal(0.0, 0.1, size=1000)
    return [(X, Y, 0.01, 100)]


# ----------------------------------------------------------------------------
# e3: 4th derivative of tanh (JAX)
# ----------------------------------------------------------------------------

def tanh_e3(xp, x):
    return xp.tanh(x)


def tanh_e3_d4(xp, x):
    """16·tanh·sech⁴ − 8·tanh³·sech²."""
    t = xp.tanh(x)
    s2 = 1 - t**2
    return 16 * t * s2**2 - 8 * t**3 * s2


def tanh_e3_d3(xp, x):
    """The 3rd derivative (grad applied three times): sech²·(6·tanh² − 2)."""
    t = xp.tanh(x)
    return (1 - t**2) * (6 * t**2 - 2)


def tanh_e3_d5(xp, x):
    """The 5th derivative (grad applied five times): sech²·(16 − 120·tanh² + 120·tanh⁴)."""
    t = xp.tanh(x)
    return (1 - t**2) * (16 - 120 * t**2 + 120 * t**4)


def inputs_e3(rng):
    points = [0.5, -1.2, 2.0] + list(rng.uniform(-3.0, 3.0, size=4))
    return [(np.float64(p),) for p in points]


# ----------------------------------------------------------------------------
# e4: Hessian of f(x) = ½xᵀAx + bᵀx + c, A not symmetric
# ----------------------------------------------------------------------------

def f_e4(xp, A, b, c, x):
    return 0.5 * (x @ (A @ x)) + b @ x + c


def f_e4_hess(xp, A, b, c, x):
    return 0.5 * (A + A.T)


def f_e4_hess_A(xp, A, b, c, x):
    return A


def f_e4_hess_At(xp, A, b, c, x):
    return A.T


def f_e4_hess_2sym(xp, A, b, c, x):
    return A + A.T


def _nonsymmetric(rng, n):
    A = rng.normal(size=(n, n))
    A[np.triu_indices(n, 1)] += 1.0  # clearly not symmetric
    return A


def inputs_e4(rng):
    out = []
    for n in (2, 3, 5, 4):
        out.append((_nonsymmetric(rng, n), rng.normal(size=n), np.float64(rng.normal()), rng.normal(size=n)))
    return out


def inputs_e4_timing(rng):
    n = 100
    return [(_nonsymmetric(rng, n), rng.normal(size=n), np.float64(1.0), rng.normal(size=n))]


# ----------------------------------------------------------------------------
# e5: gradient of f(X) = tr(AXB), A (m, n), X (n, p), B (p, m), m, n, p distinct
# ----------------------------------------------------------------------------

def f_e5(xp, A, X, B):
    return xp.trace(A @ X @ B)


def f_e5_grad(xp, A, X, B):
    return A.T @ B.T


def f_e5_grad_transposed(xp, A, X, B):
    return B @ A


def inputs_e5(rng):
    out = []
    for m, n, p in ((2, 3, 4), (4, 2, 3), (3, 5, 2), (5, 4, 3)):
        out.append((rng.normal(size=(m, n)), rng.normal(size=(n, p)), rng.normal(size=(p, m))))
    return out


def inputs_e5_timing(rng):
    m, n, p = 60, 80, 70
    return [(rng.normal(size=(m, n)), rng.normal(size=(n, p)), rng.normal(size=(p, m)))]


# ----------------------------------------------------------------------------
# e6: f(x) = ½‖Ax − b‖², A (m, n) with m ≠ n
# ----------------------------------------------------------------------------

def f_e6(xp, A, b, x):
    r = A @ x - b
    return 0.5 * xp.sum(r * r)


def f_e6_grad(xp, A, b, x):
    return A.T @ (A @ x - b)


def f_e6_hess(xp, A, b, x):
    return A.T @ A


def f_e6_grad_no_half(xp, A, b, x):
    return 2 * (A.T @ (A @ x - b))


def f_e6_hess_AAt(xp, A, b, x):
    return A @ A.T


def inputs_e6(rng):
    out = []
    for m, n in ((5, 3), (3, 5), (7, 4), (2, 6)):
        out.append((rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n)))
    return out


def inputs_e6_timing(rng):
    m, n = 150, 100
    return [(rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n))]


# ----------------------------------------------------------------------------
# e7: f(x) = ln(1 + exp⟨a, x⟩)
# ----------------------------------------------------------------------------

def _softplus(xp, t):
    """ln(1 + eᵗ) without overflow: max(t, 0) + ln(1 + e^(−|t|))."""
    return xp.maximum(t, 0 * t) + xp.log(1 + xp.exp(-xp.abs(t)))


def _sigmoid(xp, t):
    """σ(t) = e^(−softplus(−t)), exact to rounding for every t (no overflow, no cancellation)."""
    return xp.exp(-_softplus(xp, -t))


def f_e7(xp, a, x):
    return _softplus(xp, a @ x)


def f_e7_grad(xp, a, x):
    return _sigmoid(xp, a @ x) * a


def f_e7_hess(xp, a, x):
    t = a @ x
    return _sigmoid(xp, t) * _sigmoid(xp, -t) * xp.outer(a, a)


def f_e7_grad_sigma_flipped(xp, a, x):
    """σ(−⟨a, x⟩)·a: the sigmoid written 1/(1 + exp(t)) instead of 1/(1 + exp(−t))."""
    return _sigmoid(xp, -(a @ x)) * a


def inputs_e7(rng):
    """Moderate ⟨a, x⟩ (|⟨a, x⟩| < 4, away from nothing in particular: f is smooth)."""
    out = []
    for n in (2, 3, 5, 8):
        a = rng.normal(size=n)
        x = rng.normal(size=n)
        t = a @ x
        if abs(t) > 3.5:
            x = x * (3.5 / abs(t))
        out.append((a, x))
    return out


def inputs_e7_extreme(rng):
    """⟨a, x⟩ = ±800, where exp overflows: a naive log(1 + exp(·)) or exp(t)/(1 + exp(t)) gives inf or NaN."""
    out = []
    for n, t in ((3, 800.0), (3, -800.0), (5, 800.0), (4, -800.0)):
        a = rng.normal(size=n)
        out.append((a, t * a / (a @ a)))
    return out


def inputs_e7_timing(rng):
    n = 200
    a = rng.normal(size=n)
    x = rng.normal(size=n)
    return [(a, x * (2.0 / abs(a @ x)))]
