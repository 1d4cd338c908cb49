# P3 wrong: the Hessian is computed once, at x0, and reused (a chord method: linear convergence).

# %% p3
import jax
import jax.numpy as jnp


def newton(f, x0, n):
    H = jax.hessian(f)(x0)
    x, out = x0, []
    for _ in range(n):
        x = x - jnp.linalg.solve(H, jax.grad(f)(x))
        out.append(x)
    return out
