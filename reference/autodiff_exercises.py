# %% [markdown]
# # Automatic differentiation — reference solution
#
# Graded by `problems/autodiff-exercises` (exercises 1-7, 1 point each). Each
# question's cells start with a `# %% <id>` marker. Entries of the "analytic
# and autodiff" exercises take NumPy float64 arrays; the `*_analytic` ones are
# written by hand (no autodiff while they run), the `*_autodiff` ones use JAX.
# e1 uses HIPS autograd, e2 NumPy and PyTorch, e3 JAX.

# %% setup
import math

import numpy as np
import torch
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

# %% e1 Taylor approximation of cos, differentiable by autograd
import autograd
import autograd.numpy as anp


def taylor_cosine(x):
    """Σ (−1)^k x^(2k) / (2k)!, summed until the terms are negligible.

    The terms are built from one another (no factorials of large numbers);
    on [−π, π] about 12 terms bring the error below 1e-12. Only arithmetic
    and anp.abs are used, so autograd differentiates it.
    """
    ans = term = 1.0
    k = 0
    while anp.abs(term) > 1e-16:
        term = -term * x**2 / ((2 * k + 1) * (2 * k + 2))
        ans = ans + term
        k += 1
    return ans


d_taylor_cosine = autograd.grad(taylor_cosine)
print(taylor_cosine(math.pi), d_taylor_cosine(1.0), -math.sin(1.0))

# %% e2 Linear regression by gradient descent: manual (NumPy) and PyTorch autograd
def linear_regression_manual(X, Y, learning_rate=0.01, n_iters=20):
    """f = w·x, loss = mean((w·x − y)²), dloss/dw = mean(2x(w·x − y)); w after each epoch."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = 0.0
    ws = []
    for _ in range(n_iters):
        y_pred = w * X
        dw = np.mean(2 * X * (y_pred - Y))
        w = w - learning_rate * dw
        ws.append(float(w))
    return ws


def linear_regression_autograd(X, Y, learning_rate=0.01, n_iters=20):
    """The same loop with the gradient from loss.backward()."""
    X = torch.as_tensor(X, dtype=torch.float64)
    Y = torch.as_tensor(Y, dtype=torch.float64)
    w = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    ws = []
    for _ in range(n_iters):
        loss = ((w * X - Y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= learning_rate * w.grad
        w.grad.zero_()
        ws.append(w.item())
    return ws


X = np.array([1, 2, 3, 4], dtype=np.float64)
Y = np.array([2, 4, 6, 8], dtype=np.float64)
print(linear_regression_manual(X, Y)[-1])  # 1.9224809378309713
print(linear_regression_autograd(torch.tensor(X), torch.tensor(Y))[-1])

# %% e3 4th derivative of tanh with JAX
def tanh_fourth_derivative(x):
    return jax.grad(jax.grad(jax.grad(jax.grad(jnp.tanh))))(x)


print(tanh_fourth_derivative(0.5))  # 3.952219563724583

# %% e4 Hessian of f(x) = 1/2 x^T A x + b^T x + c, A not symmetric
def quadratic(A, b, c, x):
    return 0.5 * x @ A @ x + b @ x + c


def quadratic_hessian_analytic(A, b, c, x):
    """xᵀAx only sees the symmetric part of A: the Hessian is ½(A + Aᵀ)."""
    return 0.5 * (A + A.T)


def quadratic_hessian_autodiff(A, b, c, x):
    return jax.hessian(quadratic, argnums=3)(A, b, c, x)


# %% e5 Gradient of f(X) = tr(AXB)
def trace_grad_analytic(A, X, B):
    """tr(AXB) = Σ A_ij X_jk B_ki, so ∂/∂X_jk = Σ_i A_ij B_ki = (AᵀBᵀ)_jk."""
    return A.T @ B.T


def trace_grad_autodiff(A, X, B):
    return jax.grad(lambda X: jnp.trace(A @ X @ B))(X)


# %% e6 Gradient and Hessian of f(x) = 1/2 ||Ax - b||^2
def lstsq(A, b, x):
    r = A @ x - b
    return 0.5 * r @ r


def lstsq_grad_analytic(A, b, x):
    return A.T @ (A @ x - b)


def lstsq_grad_autodiff(A, b, x):
    return jax.grad(lstsq, argnums=2)(A, b, x)


def lstsq_hessian_analytic(A, b, x):
    return A.T @ A


def lstsq_hessian_autodiff(A, b, x):
    return jax.hessian(lstsq, argnums=2)(A, b, x)


# %% e7 Gradient and Hessian of f(x) = ln(1 + exp<a, x>), stable at <a, x> = ±800
def sigmoid(t):
    """σ(t) = 1/(1 + e^(−t)) = e^(−ln(1 + e^(−t))), with logaddexp: no overflow for any t."""
    return np.exp(-np.logaddexp(0.0, -t))


def logistic_grad_analytic(a, x):
    return sigmoid(a @ x) * a


def logistic_hessian_analytic(a, x):
    t = a @ x
    return sigmoid(t) * sigmoid(-t) * np.outer(a, a)  # σ(1 − σ), with 1 − σ(t) = σ(−t)


def logistic(a, x):
    return jnp.logaddexp(0.0, a @ x)  # ln(1 + exp(t)) that never overflows


def logistic_grad_autodiff(a, x):
    return jax.grad(logistic, argnums=1)(a, x)


def logistic_hessian_autodiff(a, x):
    return jax.hessian(logistic, argnums=1)(a, x)
