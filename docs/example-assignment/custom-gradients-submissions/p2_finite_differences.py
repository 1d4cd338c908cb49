# P2 wrong: the Hessian-vector product by central differences of the gradient.

# %% p2
import jax


def hvp(f, x, v, eps=1e-5):
    return (jax.grad(f)(x + eps * v) - jax.grad(f)(x - eps * v)) / (2 * eps)
