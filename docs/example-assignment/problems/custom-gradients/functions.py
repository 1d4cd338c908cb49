"""Custom gradients and higher-order AD: references, the test functions students never see, inputs.

Each `(xp, ...)` function is written once against the shared functions of docs/spec-format.md, so it
runs with NumPy, autograd, JAX and torch. Test functions are sent to the student's process by their
source alone, for the graded run only: each uses nothing but `xp` and its argument.
"""

import numpy as np


# -- P1 and P4: the references, stable everywhere ----------------------------------------------------

def softplus(xp, x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|)."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def logsumexp(xp, x):
    """log Σ e^x, with the maximum taken out first."""
    m = xp.max(x)
    return m + xp.log(xp.sum(xp.exp(x - m)))


def inputs_moderate(rng):
    return [(rng.uniform(-5, 5, size=(3, 4)),), (rng.uniform(-5, 5, size=7),)]


def inputs_extreme(rng):
    return [(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]),), (np.array([999.0, 1000.0, -5.0]),)]


# -- P2 and P3: test functions, each with its minimiser at 0.5 (every coordinate) ---------------------

def f_expsum(xp, x):
    """a sum of e^y − y plus (Σy)²/2, y = x − 0.5"""
    y = x - 0.5
    return xp.sum(xp.exp(y) - y) + xp.sum(y) ** 2 / 2


def f_softplus_bowl(xp, x):
    """softplus terms on a quadratic bowl"""
    y = x - 0.5
    return xp.sum(xp.log1p(xp.exp(2 * y)) - y + y ** 2) + xp.sum(y[:-1] * y[1:]) / 4


def f_quartic(xp, x):
    """a quartic and exponential terms with coupled neighbours"""
    y = x - 0.5
    return xp.sum(y ** 4 / 4 + xp.exp(y) - y) + xp.sum(y[:-1] * y[1:]) / 2


def hvp_expected(xp, f, x, v):
    return f.hvp(x, v)


def grad_of_f(xp, sub, f, x, v):
    """The timing baseline: one gradient of the same function (the grader's, never the student's)."""
    return ad.grad(f)(x)  # noqa: F821 (`ad` is the backend, given to code sent to the student's process)


def inputs_hvp(rng):
    return [(rng.normal(size=5), rng.normal(size=5)), (rng.normal(size=12), rng.normal(size=12))]


def inputs_hvp_timing(rng, size):
    return (rng.normal(size=size), rng.normal(size=size))


def minimiser(xp, f, x0, n):
    return np.full_like(x0, 0.5)


def inputs_newton(rng):
    return [(0.5 + rng.uniform(-0.6, 0.6, size=4), 10)]


def softmax(xp, x):
    """The gradient of log-sum-exp: e^(x − max) / Σ e^(x − max)."""
    e = xp.exp(x - xp.max(x))
    return e / xp.sum(e)
