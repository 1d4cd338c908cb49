"""Reference functions, analytic solutions, inputs and known mistakes for the
softplus example assignment (docs/instructor-guide.md).

Every `(xp, x)` function is written once against the array namespace it is
handed (numpy, autograd.numpy, jax.numpy or torch, float64), so that
`adgrade validate` can differentiate `softplus_sum` with autograd, JAX and
PyTorch and compare with the analytic `sigmoid`. Input generators return NumPy
float64 data and get a seeded `numpy.random.Generator`.
"""

import numpy as np


def softplus(xp, x):
    """log(1 + e^x), written so that it never overflows: max(x, 0) + log1p(e^-|x|)."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_sum(xp, x):
    """A scalar whose gradient is softplus's elementwise derivative."""
    return xp.sum(softplus(xp, x))


def sigmoid(xp, x):
    """The analytic derivative of softplus: 1 / (1 + e^-x)."""
    return 1.0 / (1.0 + xp.exp(-x))


def sigmoid_of_minus_x(xp, x):
    """A known mistake: the sign in the exponent flipped."""
    return 1.0 / (1.0 + xp.exp(x))


def inputs_moderate(rng):
    """A matrix, a vector and a number with entries in [-5, 5] (the same every run: the rng is seeded)."""
    return [
        (rng.uniform(-5, 5, size=(3, 4)),),
        (rng.uniform(-5, 5, size=7),),
        (np.float64(rng.uniform(-5, 5)),),
    ]


def inputs_extreme(rng):
    """Where exp(x) overflows (x > 709) and underflows."""
    return [(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]),), (np.float64(800.0),)]
