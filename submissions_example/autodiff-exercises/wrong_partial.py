# Automatic differentiation: homework
# Example submission with a mistake (see expected.toml): only exercises 1-3 are done.

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
        history.append(w.detach().clone())
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

