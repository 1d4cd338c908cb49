# A correct submission: P1 in the forward(ctx, x) style, P3 with HIPS autograd (the reference uses JAX).

# %% p1
import torch


class SoftplusFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)


# %% p2
import jax


def hvp(f, x, v):
    return jax.jvp(lambda y: jax.grad(f)(y), (x,), (v,))[1]


# %% p3
import autograd
import autograd.numpy as anp


def newton(f, x0, n):
    x, out = x0, []
    for _ in range(n):
        x = x - anp.linalg.solve(autograd.hessian(f)(x), autograd.grad(f)(x))
        out.append(x)
    return out


# %% p4
import numpy as np


def logsumexp_grad(x):
    z = np.exp(x - x.max())
    return z / z.sum()
