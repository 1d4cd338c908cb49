# Home assignment: objectives JAX can differentiate
# Example with a mistake: mse turns y into a column (m, 1) and subtracts predictions of shape (m,): an (m, m) grid.

# %% imports
import jax
import jax.numpy as jnp
import numpy as np
from jax import grad

jax.config.update("jax_enable_x64", True)

# %% t1
def f(w, x):
    # works for one sample x = [x1, x2], and for X.T (features in rows)
    return jnp.cos(w[0] * x[0] + w[1]) + jnp.exp(-w[4] * x[1]) * jnp.sin(w[2] * x[1] + w[3])


def mse(w, X, y):
    y = y.reshape(-1, 1)  # targets as a column vector
    return jnp.mean((y - f(w, X.T)) ** 2)


def analytical_gradient(w, X, y):
    m = X.shape[0]
    x1, x2 = X[:, 0], X[:, 1]
    residual = y - f(w, X.T)
    common = -2.0 * residual / m
    g1 = jnp.sum(common * (-jnp.sin(w[0] * x1 + w[1]) * x1))
    g2 = jnp.sum(common * (-jnp.sin(w[0] * x1 + w[1])))
    g3 = jnp.sum(common * jnp.exp(-w[4] * x2) * jnp.cos(w[2] * x2 + w[3]) * x2)
    g4 = jnp.sum(common * jnp.exp(-w[4] * x2) * jnp.cos(w[2] * x2 + w[3]))
    g5 = jnp.sum(common * (-x2) * jnp.exp(-w[4] * x2) * jnp.sin(w[2] * x2 + w[3]))
    return jnp.array([g1, g2, g3, g4, g5])


# quick self-check, as students do
w_test = jnp.array([0.1, 0.2, 0.3, 0.4, 0.5])
X_test = jnp.array(np.random.default_rng(1).normal(size=(10, 2)))
y_test = jnp.array(np.random.default_rng(2).normal(size=10))
print(grad(mse)(w_test, X_test, y_test))
print(analytical_gradient(w_test, X_test, y_test))

# %% t2
def cross_entropy(y_true, y_pred):
    log_probs = jax.nn.log_softmax(y_pred, axis=-1)
    n = y_pred.shape[0]
    return -jnp.mean(log_probs[jnp.arange(n), y_true])


def linear_model(X, W, b):
    return jnp.dot(X, W.T) + b


def loss_grad(W, b, X, y):
    def loss_fn(params):
        W, b = params
        return cross_entropy(y, linear_model(X, W, b))

    dW, db = grad(loss_fn)((W, b))
    return dW, db


def numerical_gradient(func, params, epsilon=1e-5):
    grads = jnp.zeros_like(params)
    for idx in np.ndindex(params.shape):
        plus = params.at[idx].add(epsilon)
        minus = params.at[idx].add(-epsilon)
        grads = grads.at[idx].set((func(plus) - func(minus)) / (2 * epsilon))
    return grads

# %% t3
def loss(U, V, X, lambda_):
    return jnp.sum((X - U @ V) ** 2) + lambda_ / 2 * jnp.sum(U ** 2) + lambda_ / 2 * jnp.sum(V ** 2)


def analytical_grad(U, V, X, lambda_):
    E = X - jnp.dot(U, V)
    dU = -2 * jnp.dot(E, V.T) + lambda_ * U
    dV = -2 * jnp.dot(U.T, E) + lambda_ * V
    return dU, dV


grad_L = jax.jit(grad(loss, argnums=(0, 1)))
grad_analytic = jax.jit(analytical_grad)
