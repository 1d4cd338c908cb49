# Automatic differentiation: homework
# Example submission with a mistake (see expected.toml): e2's PyTorch loop appends the tensor w itself, which is updated in place.

import math
import time

import numpy as np
import torch
import jax
import jax.numpy as jnp
from jax import grad

jax.config.update("jax_enable_x64", True)

# %% e1 Taylor series of cos with autograd
import autograd
import autograd.numpy as anp


def taylor_cosine(x):  # Taylor approximation to cosine function
    ans = 0.0
    for n in range(20):
        ans = ans + (-1) ** n * x ** (2 * n) / math.factorial(2 * n)
    return ans


for x in (0.0, 1.0, math.pi, -math.pi):
    # comparing with np.cos out here is fine: only taylor_cosine itself may not call cos
    print(x, taylor_cosine(x), np.cos(x), autograd.grad(taylor_cosine)(x), -np.sin(x))

# %% e2 Linear regression: manual gradient and PyTorch autograd
X = np.array([1, 2, 3, 4], dtype=np.float64)
Y = np.array([2, 4, 6, 8], dtype=np.float64)


def linear_regression_manual(X, Y, learning_rate=0.01, n_iters=20):
    w = 0.0

    def forward(x):
        return w * x

    def gradient(x, y, y_pred):
        # J = MSE = 1/N * sum((w*x - y)**2), dJ/dw = 1/N * sum(2x(w*x - y))
        return np.dot(2 * x, y_pred - y) / len(x)

    history = []
    for epoch in range(n_iters):
        y_pred = forward(X)
        dw = gradient(X, Y, y_pred)
        w -= learning_rate * dw
        history.append(w)
    return history


def linear_regression_autograd(X, Y, learning_rate=0.01, n_iters=20):
    w = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    history = []
    for epoch in range(n_iters):
        y_pred = w * X
        l = ((y_pred - Y) ** 2).mean()
        l.backward()
        with torch.no_grad():
            w -= learning_rate * w.grad
        w.grad.zero_()
        history.append(w)
    return history


print(linear_regression_manual(X, Y)[-1])
print(linear_regression_autograd(torch.from_numpy(X), torch.from_numpy(Y))[-1])

t0 = time.perf_counter()
linear_regression_manual(X, Y, n_iters=1000)
t1 = time.perf_counter()
linear_regression_autograd(torch.from_numpy(X), torch.from_numpy(Y), n_iters=1000)
t2 = time.perf_counter()
print(f"manual {t1 - t0:.4f}s, autograd {t2 - t1:.4f}s")

# %% e3 4th derivative of tanh with JAX
tanh_fourth_derivative = grad(grad(grad(grad(jnp.tanh))))
print(tanh_fourth_derivative(0.5))

# %% e4 Hessian of 1/2 x^T A x + b^T x + c
def quadratic_hessian_analytic(A, b, c, x):
    return (A + A.T) / 2


def quadratic_hessian_autodiff(A, b, c, x):
    A, b, c, x = (torch.as_tensor(v) for v in (A, b, c, x))
    f = lambda x: 0.5 * x @ A @ x + b @ x + c
    return torch.func.hessian(f)(x)


A = np.random.randn(4, 4)
b, x = np.random.randn(4), np.random.randn(4)
print(np.allclose(quadratic_hessian_analytic(A, b, 1.0, x), quadratic_hessian_autodiff(A, b, 1.0, x).numpy()))

# %% e5 Gradient of tr(AXB)
def trace_grad_analytic(A, X, B):
    return A.T @ B.T


def trace_grad_autodiff(A, X, B):
    return autograd.grad(lambda X: anp.trace(anp.dot(anp.dot(A, X), B)))(X)


# %% e6 Gradient and Hessian of 1/2 ||Ax - b||^2
def lstsq_f(A, b, x):
    return 0.5 * jnp.sum((A @ x - b) ** 2)


lstsq_grad_jax = jax.grad(lstsq_f, argnums=2)


def lstsq_grad_analytic(A, b, x):
    return A.T @ (A @ x - b)


def lstsq_grad_autodiff(A, b, x):
    return lstsq_grad_jax(A, b, x)


def lstsq_hessian_analytic(A, b, x):
    return A.T @ A


def lstsq_hessian_autodiff(A, b, x):
    return jax.jacfwd(lstsq_grad_jax, argnums=2)(A, b, x)


# %% e7 Gradient and Hessian of ln(1 + exp<a, x>)
def logistic_grad_analytic(a, x):
    sigma = 1 / (1 + np.exp(-(a @ x)))  # exp overflows to inf for <a,x> << 0, and 1/inf = 0: still right
    return sigma * a


def logistic_hessian_analytic(a, x):
    sigma = 1 / (1 + np.exp(-(a @ x)))
    return sigma * (1 - sigma) * np.outer(a, a)


def logistic_grad_autodiff(a, x):
    return jax.grad(lambda x: jax.nn.softplus(jnp.dot(a, x)))(x)


def logistic_hessian_autodiff(a, x):
    return jax.hessian(lambda x: jax.nn.softplus(jnp.dot(a, x)))(x)
