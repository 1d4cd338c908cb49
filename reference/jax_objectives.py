# Reference solution: "Home assignment: objectives JAX can differentiate" (jax-objectives).
# Cells are marked `# %% t1` ... `# %% t3`; each question is graded with the
# definitions in force at the end of its cells.

# %% setup
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

# %% t1
def f(w, x):
    """One sample x = (x1, x2); w in R^5."""
    return jnp.cos(w[0] * x[0] + w[1]) + jnp.exp(-w[4] * x[1]) * jnp.sin(w[2] * x[1] + w[3])


def mse(w, X, y):
    """X (m, 2): its columns are the two features."""
    predictions = jax.vmap(f, in_axes=(None, 0))(w, X)
    return jnp.mean((y - predictions) ** 2)


def analytical_gradient(w, X, y):
    x1, x2 = X[:, 0], X[:, 1]
    a = w[0] * x1 + w[1]
    b = w[2] * x2 + w[3]
    e = jnp.exp(-w[4] * x2)
    residual = y - (jnp.cos(a) + e * jnp.sin(b))
    df_dw = jnp.stack(
        [-jnp.sin(a) * x1, -jnp.sin(a), e * jnp.cos(b) * x2, e * jnp.cos(b), -x2 * e * jnp.sin(b)],
        axis=1,
    )  # (m, 5)
    return jnp.mean(-2.0 * residual[:, None] * df_dw, axis=0)


mse_grad = jax.grad(mse)

# %% t2
def cross_entropy(y_true, y_pred):
    """Mean cross-entropy of integer labels (N,) under logits (N, C), via a stable log-softmax."""
    log_probs = y_pred - jax.scipy.special.logsumexp(y_pred, axis=1, keepdims=True)
    return -jnp.mean(jnp.take_along_axis(log_probs, y_true[:, None], axis=1))


def linear_model(X, W, b):
    return X @ W.T + b


def loss_grad(W, b, X, y):
    def loss(W, b):
        return cross_entropy(y, linear_model(X, W, b))

    return jax.grad(loss, argnums=(0, 1))(W, b)


def numerical_gradient(func, params, epsilon=1e-5):
    params = np.asarray(params, dtype=np.float64)
    grad = np.zeros_like(params)
    for index in np.ndindex(params.shape):
        step = np.zeros_like(params)
        step[index] = epsilon
        grad[index] = (func(params + step) - func(params - step)) / (2 * epsilon)
    return grad

# %% t3
def loss(U, V, X, lambda_):
    return jnp.sum((X - U @ V) ** 2) + lambda_ / 2 * (jnp.sum(U ** 2) + jnp.sum(V ** 2))


def analytical_grad(U, V, X, lambda_):
    R = X - U @ V
    return -2.0 * R @ V.T + lambda_ * U, -2.0 * U.T @ R + lambda_ * V


autodiff_grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
analytic_grad_jit = jax.jit(analytical_grad)
