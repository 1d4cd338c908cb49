"""Reference functions, analytic derivatives, inputs and known mistakes for
"Exercises: autograd" (autograd-intro, HIPS autograd).

Every `(xp, ...)` function runs with xp = numpy, autograd.numpy, jax.numpy or
torch (float64), so that `adgrade validate` can differentiate each function
with all three frameworks and compare with the analytic derivative. Functions
of `args` take the course's list argument ([x, y, z] or [W, V]); they also
accept a 1-D array [x, y, z] (how `validate` passes an example's numbers).
Known-mistake functions run in the trusted parent with xp = numpy.
"""

import math

import numpy as np

# ----------------------------------------------------------------------------
# e1: f(x) = (x - 10)², f_grad = its derivative
# ----------------------------------------------------------------------------


def f_e1(xp, x):
    return (x - 10) ** 2


def f_e1_grad(xp, x):
    return 2 * (x - 10)


def inputs_e1(rng):
    """The course's points 3, 10, 12, and random ones."""
    points = [3.0, 10.0, 12.0] + list(np.round(rng.uniform(-5.0, 20.0, size=3), 4))
    return [(np.float64(p),) for p in points]


# ----------------------------------------------------------------------------
# e3: f1 = x·eˣ, f2 = (x + 2ˣ)/eˣ, f3 = ln(2 + x) + cos²(x)
# ----------------------------------------------------------------------------


def f1_e3(xp, x):
    return x * xp.exp(x)


def f1_e3_grad(xp, x):
    return (1 + x) * xp.exp(x)


def f2_e3(xp, x):
    return (x + 2**x) / xp.exp(x)


def f2_e3_grad(xp, x):
    return (1 + 2**x * math.log(2.0) - x - 2**x) / xp.exp(x)


def f3_e3(xp, x):
    return xp.log(2 + x) + xp.cos(x) ** 2


def f3_e3_grad(xp, x):
    return 1 / (2 + x) - 2 * xp.cos(x) * xp.sin(x)


def f2_e3_no_parentheses(xp, x):
    """x + 2**x / e**x: the parentheses around the numerator forgotten."""
    return x + 2**x / xp.exp(x)


def f2_e3_no_parentheses_grad(xp, x):
    return 1 + (2**x * math.log(2.0) - 2**x) / xp.exp(x)


def f3_e3_cos_cos(xp, x):
    """cos(cos x) where cos²(x) was meant."""
    return xp.log(2 + x) + xp.cos(xp.cos(x))


def f3_e3_cos_cos_grad(xp, x):
    return 1 / (2 + x) + xp.sin(xp.cos(x)) * xp.sin(x)


def f3_e3_cos_x2(xp, x):
    """cos(x²) where cos²(x) was meant."""
    return xp.log(2 + x) + xp.cos(x**2)


def f3_e3_cos_x2_grad(xp, x):
    return 1 / (2 + x) - 2 * x * xp.sin(x**2)


def inputs_e3_f1(rng):
    points = [7.0] + list(np.round(rng.uniform(-3.0, 8.0, size=4), 4))
    return [(np.float64(p),) for p in points]


def inputs_e3_f2(rng):
    points = [3.5] + list(np.round(rng.uniform(-3.0, 8.0, size=4), 4))
    return [(np.float64(p),) for p in points]


def inputs_e3_f3(rng):
    """f3 needs x > -2 (ln(2 + x))."""
    points = [-0.5] + list(np.round(rng.uniform(-1.5, 4.0, size=4), 4))
    return [(np.float64(p),) for p in points]


# ----------------------------------------------------------------------------
# e4: f(args) = x²·y·3ᶻ with args = [x, y, z]; f_grad(args) = [∂x, ∂y, ∂z]
# ----------------------------------------------------------------------------


def f_e4(xp, args):
    x, y, z = args[0], args[1], args[2]
    return x**2 * y * 3**z


def f_e4_grad(xp, args):
    x, y, z = args[0], args[1], args[2]
    return [2 * x * y * 3**z, x**2 * 3**z, x**2 * y * 3**z * math.log(3.0)]


def _permuted(order):
    def wrong(xp, args):
        g = f_e4_grad(xp, args)
        return [g[i] for i in order]

    return wrong


f_e4_grad_zyx = _permuted((2, 1, 0))
f_e4_grad_yxz = _permuted((1, 0, 2))
f_e4_grad_xzy = _permuted((0, 2, 1))
f_e4_grad_zxy = _permuted((2, 0, 1))
f_e4_grad_yzx = _permuted((1, 2, 0))


def inputs_e4(rng):
    """The course's point [3, -1, 2], and random ones (partials all different, so an order is visible)."""
    out = [([np.float64(3.0), np.float64(-1.0), np.float64(2.0)],)]
    for _ in range(4):
        x, y = np.round(rng.uniform(0.5, 3.0, size=2) * rng.choice([-1.0, 1.0], size=2), 4)
        z = np.round(rng.uniform(-1.0, 2.5), 4)
        out.append(([np.float64(x), np.float64(y), np.float64(z)],))
    return out


# ----------------------------------------------------------------------------
# e6: args = [W, V], W (a, b), V (b, a); f1 = mean(W @ V), f2 = mean(V @ W)
# ----------------------------------------------------------------------------


def f1_e6(xp, args):
    W, V = args[0], args[1]
    return xp.mean(W @ V)


def f2_e6(xp, args):
    W, V = args[0], args[1]
    return xp.mean(V @ W)


def f1_e6_grad(xp, args):
    """mean(WV) = Σ (WV)ᵢⱼ / N: with G the (a, a) matrix of 1/N, ∂W = G Vᵀ, ∂V = Wᵀ G."""
    W, V = args[0], args[1]
    P = W @ V
    G = 0 * P + 1.0 / (P.shape[0] * P.shape[1])
    return [G @ V.T, W.T @ G]


def f2_e6_grad(xp, args):
    """mean(VW): with H the (b, b) matrix of 1/N, ∂V = H Wᵀ, ∂W = Vᵀ H."""
    W, V = args[0], args[1]
    P = V @ W
    H = 0 * P + 1.0 / (P.shape[0] * P.shape[1])
    return [V.T @ H, H @ W.T]


def f1_e6_sum(xp, args):
    W, V = args[0], args[1]
    return xp.sum(W @ V)


def f2_e6_sum(xp, args):
    W, V = args[0], args[1]
    return xp.sum(V @ W)


def _times_size(grads, size):
    return [g * size for g in grads]


def f1_e6_sum_grad(xp, args):
    W, V = args[0], args[1]
    return _times_size(f1_e6_grad(xp, args), W.shape[0] * V.shape[1])


def f2_e6_sum_grad(xp, args):
    W, V = args[0], args[1]
    return _times_size(f2_e6_grad(xp, args), V.shape[0] * W.shape[1])


def f1_e6_grad_reversed(xp, args):
    return f1_e6_grad(xp, args)[::-1]


def f2_e6_grad_reversed(xp, args):
    return f2_e6_grad(xp, args)[::-1]


def f2_e6_unpacked_swapped(xp, args):
    """`V, W = args` in f2: with args = [W, V] this computes mean(W @ V), which is f1."""
    return f1_e6(xp, args)


def f2_e6_unpacked_swapped_grad(xp, args):
    return f1_e6_grad(xp, args)


COURSE_W = [[0.3, -0.2, 0.1], [0.1, 0.2, 0.1]]
COURSE_V = [[0.1, -0.3], [0.1, 0.5], [0.2, 0.7]]


def inputs_e6(rng):
    """The course's W (2, 3) and V (3, 2), random ones of the same shapes, and a (4, 2) / (2, 4) pair."""
    out = [([np.array(COURSE_W), np.array(COURSE_V)],)]
    out.append(([np.round(rng.normal(size=(2, 3)), 3), np.round(rng.normal(size=(3, 2)), 3)],))
    out.append(([np.round(rng.normal(size=(4, 2)), 3), np.round(rng.normal(size=(2, 4)), 3)],))
    return out
