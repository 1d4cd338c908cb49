# %% [markdown]
# # Autograd and neural networks: reference solution
#
# Graded by `problems/jax-nn` (40 points + 2 bonus). Each question's cells
# start with a `# %% <id>` marker; the grader checks a question with the
# definitions in force at the end of its cells (`manual_grad` is defined
# twice, once for (a) and once for (b)). The course's starter code is
# included with its two bugs fixed.

# %% setup
import numpy as np
import jax
import jax.numpy as jnp
from jax import grad

jax.config.update("jax_enable_x64", True)

# %% q1a (a) Univariate function gradient
def f(x):
    return jnp.cos(x**3 - 2 * x**2 + 5)


def manual_grad(x):
    """f'(x) = -sin(x^3 - 2x^2 + 5) * (3x^2 - 4x), by the chain rule."""
    u = x**3 - 2 * x**2 + 5
    return -jnp.sin(u) * (3 * x**2 - 4 * x)


print(manual_grad(3.5), grad(f)(3.5))  # both 22.35361841987789

# %% q1b (b) Multivariate function gradient
def f(x):
    return jnp.linalg.norm(x) ** 3


def manual_grad(x):
    """grad ||x||^3 = 3 ||x||^2 * x / ||x|| = 3 ||x|| x."""
    return 3 * jnp.linalg.norm(x) * x


x = jnp.array([5.0, 0.3, 2.0])
print(manual_grad(x), grad(f)(x))  # [80.90271936  4.85416316 32.36108774]

# %% q1b-hessian (bonus) Hessian matrix from jax.grad
def hessian_manual(f, x):
    """Row i of the Hessian is the gradient of the i-th component of grad f."""
    x = jnp.asarray(x)
    g = grad(f)
    rows = [grad(lambda v, i=i: g(v)[i])(x) for i in range(x.shape[0])]
    return jnp.stack(rows)


print(hessian_manual(f, x))

# %% q1c starter code (given): softmax regression, targets fixed to a column
def softmax(scores):
    e = jnp.exp(scores - jnp.max(scores, axis=0, keepdims=True))
    return e / jnp.sum(e, axis=0, keepdims=True)


def predict(params, inputs):
    W, b = params
    return softmax(W @ inputs + b)


def loss_fun(params, inputs, targets):
    preds = predict(params, inputs)
    return jnp.sum((preds - targets.reshape(preds.shape)) ** 2)


rng = np.random.default_rng(0)
X = jnp.asarray(rng.normal(size=(64, 1)))  # one input of 64 features
y = jnp.array([0.0, 1.0, 0.0]).reshape(3, 1)  # its one-hot target, as a (3, 1) column
W = jnp.asarray(0.01 * rng.normal(size=(3, 64)))
b = jnp.zeros((3, 1))
print(loss_fun([W, b], X, y))

# %% q1c (c) predict_nn
def predict_nn(params, inputs):
    W1, b1, W2, b2 = params
    hidden = jnp.tanh(W1 @ inputs + b1)
    scores = W2 @ hidden + b2
    return softmax(scores)


def loss_fun_nn(params, inputs, targets):
    preds = predict_nn(params, inputs)
    return jnp.sum((preds - targets.reshape(preds.shape)) ** 2)


# %% q1d (d) Parameters and gradient
h = 16
k1, k2 = jax.random.split(jax.random.PRNGKey(0))
W1 = 0.1 * jax.random.normal(k1, (h, 64))
b1 = jnp.zeros((h, 1))
W2 = 0.1 * jax.random.normal(k2, (3, h))
b2 = jnp.zeros((3, 1))
params = [W1, b1, W2, b2]

print(predict_nn(params, X).shape)  # (3, 1)
grads = grad(loss_fun_nn)(params, X, y)
print([g.shape for g in grads])  # the parameters' shapes


def sgd_update(params, X, y, lr=0.1):
    grads = grad(loss_fun_nn)(params, X, y)
    return [p - lr * g for p, g in zip(params, grads)]


for _ in range(2):
    params = sgd_update(params, X, y)
print(loss_fun_nn(params, X, y))
