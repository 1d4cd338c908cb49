# %% [markdown]
# # Homework 1: Autograd and neural networks
#
# My solutions. Each question is in its own cell, marked `# %% q1a` and so on.
#
# Example submission: predict_nn uses np.tanh, so its values are right but JAX cannot
# differentiate through it (q1c's gradient check and q1d's gradient check fail).

# %% setup
import numpy as np
import jax
import jax.numpy as jnp
from jax import grad, random

jax.config.update("jax_enable_x64", True)

# %% q1a Univariate function gradient (5 points)
def f(x):
    return jnp.cos(x**3 - 2 * x**2 + 5)


def manual_grad(x):
    inner = x**3 - 2 * x**2 + 5
    d_inner = 3 * x**2 - 4 * x
    return -jnp.sin(inner) * d_inner


print("manual:", manual_grad(3.5), "jax:", grad(f)(3.5))

# %% q1b Multivariate function gradient (5 points)
def f(x):
    return jnp.sqrt(jnp.sum(x**2)) ** 3


def manual_grad(x):
    # ||x||^3 = (x.x)^(3/2), so the gradient is 3/2 (x.x)^(1/2) * 2x = 3 ||x|| x
    norm = jnp.sqrt(jnp.dot(x, x))
    return 3 * norm * x


x = jnp.array([5.0, 0.3, 2.0])
print("manual:", manual_grad(x), "jax:", grad(f)(x))

# %% q1b-hessian Hessian matrix (2 bonus points)
def hessian_manual(f, x):
    df = grad(f)
    rows = []
    for i in range(x.shape[0]):
        rows.append(grad(lambda z: df(z)[i])(x))
    return jnp.array(rows)


# test: the Hessian of sum(v**4) is diag(12 v**2)
print(hessian_manual(lambda v: jnp.sum(v**4), jnp.array([1.0, 2.0])))

# %% q1c starter code (given by the course)
def softmax(z):
    return jnp.exp(z) / jnp.sum(jnp.exp(z), axis=0, keepdims=True)


def predict(params, inputs):
    W, b = params
    return softmax(jnp.dot(W, inputs) + b)


def loss_fun(params, inputs, targets):
    preds = predict(params, inputs)
    targets = targets.reshape(preds.shape)  # (3,) -> (3, 1), or the difference is 3x3
    return jnp.sum((preds - targets) ** 2)


key = random.PRNGKey(42)
X = random.normal(key, (64, 1))
y = jnp.array([0.0, 1.0, 0.0])
W = 0.01 * random.normal(key, (3, 64))
b = jnp.zeros((3, 1))
print(loss_fun([W, b], X, y))

# %% q1c Soft-max regression and neural networks (15 points)
def predict_nn(params, inputs):
    W1, b1, W2, b2 = params
    z1 = jnp.dot(W1, inputs) + b1
    a1 = np.tanh(z1)
    z2 = jnp.dot(W2, a1) + b2
    return softmax(z2)


def loss_fun_nn(params, inputs, targets):
    preds = predict_nn(params, inputs)
    targets = targets.reshape(preds.shape)
    return jnp.sum((preds - targets) ** 2)

# %% q1d Neural network parameters and gradient (15 points)
hidden = 10
k1, k2, k3, k4 = random.split(random.PRNGKey(1), 4)
W1 = 0.1 * random.normal(k1, (hidden, 64))
b1 = 0.1 * random.normal(k2, (hidden, 1))
W2 = 0.1 * random.normal(k3, (3, hidden))
b2 = 0.1 * random.normal(k4, (3, 1))
params = [W1, b1, W2, b2]

for p in params:
    print(p.shape)


def sgd_update(params, X, y, lr=0.01):
    grads = grad(loss_fun_nn)(params, X, y)
    return [param - lr * g for param, g in zip(params, grads)]

