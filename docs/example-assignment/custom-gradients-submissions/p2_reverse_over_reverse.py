# P2 wrong: reverse-over-reverse, the gradient of <grad f, v>.

# %% p2
import jax
import jax.numpy as jnp


def hvp(f, x, v):
    return jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), v))(x)
