"""Regenerate correct.ipynb, the jax-nn example laid out like the course notebook.

Run `python submissions_example/jax-nn/make_notebook.py`. The notebook keeps the course's
starter code exactly as given (its two bugs become warnings), a `!pip` line and a `%matplotlib`
magic (skipped by the grader) and stale outputs (never trusted). Files named make_* are not
graded by the example tests.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell, new_code_cell, new_output

cells = []
md = lambda s: cells.append(new_markdown_cell(s))

def code(src, outputs=(), count=None, tags=None):
    c = new_code_cell(src, execution_count=count)
    c.outputs = list(outputs)
    if tags:
        c.metadata["tags"] = tags
    cells.append(c)

stream = lambda text: new_output("stream", name="stdout", text=text)

md("""# Homework 1: Autograd and Neural Networks

In this homework you will compute derivatives by hand and with JAX's automatic
differentiation, and build a small neural network for classification.

Run the cells from top to bottom. Do not change the starter code unless you are asked to.""")

code("""!pip install jax
%matplotlib inline
import numpy as np
import jax
import jax.numpy as jnp
from jax import grad, random

# double precision for the gradient checks
jax.config.update("jax_enable_x64", True)""",
     [stream("Requirement already satisfied: jax in /usr/local/lib/python3.11/site-packages (0.4.30)\n")], 1)

md("""## (a) Univariate Function Gradient (5 points)

Consider the function $f(x) = \\cos(x^3 - 2x^2 + 5)$.

Implement `manual_grad(x)` that returns $f'(x)$, **derived by hand** (do not call `jax.grad`
inside it). Then compare your result with `grad(f)` at a few points.""")

code("""# Q1a. Derivative of f by hand
def f(x):
    return jnp.cos(x ** 3 - 2 * x ** 2 + 5)


def manual_grad(x):
    u = x ** 3 - 2 * x ** 2 + 5          # inner function
    du = 3 * x ** 2 - 4 * x              # its derivative
    return -jnp.sin(u) * du              # chain rule: cos'(u) = -sin(u)


for x0 in [0.5, 1.0, 3.5]:
    print(x0, manual_grad(x0), grad(f)(x0))""",
     # a stale output from an older (wrong) version: never trusted by the grader
     [stream("0.5 -0.1 -0.1\n1.0 0.0 0.0\n3.5 22.35361841987789 22.35361841987789\n")], 2)

md("""## (b) Multivariate Function Gradient (5 points)

Now let $f(x) = \\|x\\|^3$ for a vector $x \\in \\mathbb{R}^n$. Implement `manual_grad(x)` that
returns the gradient $\\nabla f(x)$ by hand, for vectors of any length, and check it against
`grad(f)` at $x = [5, 0.3, 2]$.""")

code("""# Q1b. Gradient of ||x||^3 by hand
def f(x):
    return jnp.linalg.norm(x) ** 3


def manual_grad(x):
    # d/dx ||x||^3 = 3 ||x||^2 * d||x||/dx = 3 ||x||^2 * x / ||x|| = 3 ||x|| x
    return 3.0 * jnp.linalg.norm(x) * x


x = jnp.array([5.0, 0.3, 2.0])
print(manual_grad(x))
print(grad(f)(x))""",
     [stream("[80.90271936  4.85416316 32.36108774]\n[80.90271936  4.85416316 32.36108774]\n")], 3)

md("""### Implement a function that computes the Hessian matrix for the given function (2 Bonus points)

Write `hessian_manual(f, x)` that returns the Hessian matrix of a scalar function `f` at `x`.
You may use `jax.grad` (also several times), but not `jax.hessian`, `jax.jacfwd` or `jax.jacrev`.""")

code("""# Bonus: the Hessian, one row per partial derivative of the gradient
def hessian_manual(f, x):
    g = grad(f)
    n = x.shape[0]
    return jnp.stack([grad(lambda z, i=i: g(z)[i])(x) for i in range(n)])


H = hessian_manual(f, x)
print(H)
print("matches jax.hessian:", jnp.allclose(H, jax.hessian(f)(x)))""",
     [new_output("error", ename="NameError", evalue="name 'hessian_manual' is not defined",
                 traceback=["NameError: name 'hessian_manual' is not defined"])], 5)

md("""## (c) Soft-Max Regression and Neural Networks (15 points)

We classify inputs $x \\in \\mathbb{R}^{64}$ (an $8 \\times 8$ image, flattened into a column of
shape `(64, 1)`) into 3 classes. The starter code below implements soft-max regression
$p = \\mathrm{softmax}(Wx + b)$ and the squared-error loss $\\sum_k (p_k - t_k)^2$.""")

code("""# Starter code: soft-max regression and its loss
def softmax(z):
    return jnp.exp(z) / jnp.sum(jnp.exp(z), axis=0, keepdims=True)


def predict(params, inputs):
    W, b = params
    return softmax(jnp.dot(W, inputs) + b)


def loss_fun(params, inputs, targets):
    preds = predict(params, inputs)
    return jnp.sum((preds - targets) ** 2)


key = random.PRNGKey(0)
X = random.normal(key, (64, 1))       # one input
y = jnp.array([0.0, 1.0, 0.0])        # its class (one-hot)
W = 0.01 * random.normal(key, (3, 64))
b = jnp.zeros((3, 1))
print(loss_fun([W, b], X, y))""",
     [stream("2.0012484\n")], 6)

md("""Now replace soft-max regression by a neural network with one hidden layer:

* `params = [W1, b1, W2, b2]`, `inputs` of shape `(n_in, 1)`
* hidden layer: $h = \\tanh(W_1 x + b_1)$
* scores: $s = W_2 h + b_2$
* output: $\\mathrm{softmax}(s)$, of shape `(n_out, 1)`

Implement `predict_nn(params, inputs)`.""")

code("""# Q1c. Two-layer network
def predict_nn(params, inputs):
    W1, b1, W2, b2 = params
    hidden = jnp.tanh(W1 @ inputs + b1)
    scores = W2 @ hidden + b2
    return softmax(scores)""",
     [stream("All tests passed! 15/15\n")], 7, tags=["q1c"])

code("""# Starter code: the loss of the network
def loss_fun_nn(params, inputs, targets):
    preds = predict_nn(params, inputs)
    return jnp.sum((preds - targets) ** 2)""", [], 8)

md("""## (d) Neural Network Parameters and Gradient (15 points)

Create the parameters `W1, b1, W2, b2` of a network for inputs of shape `(64, 1)` and 3 classes,
with a hidden layer of your choice. Check that `predict_nn` gives a `(3, 1)` output and compute
the gradient of `loss_fun_nn` with respect to the parameters with `grad`.""")

code("""# Q1d
n_hidden = 32
k1, k2 = random.split(random.PRNGKey(1))
W1 = random.normal(k1, (n_hidden, 64)) / 8.0
b1 = jnp.zeros((n_hidden, 1))
W2 = random.normal(k2, (3, n_hidden)) / jnp.sqrt(n_hidden)
b2 = jnp.zeros((3, 1))
params = [W1, b1, W2, b2]

print(predict_nn(params, X).shape)
grads = grad(loss_fun_nn)(params, X, y)
print([g.shape for g in grads])""",
     [stream("(3, 1)\n[(32, 64), (32, 1), (3, 32), (3, 1)]\n")], 9)

code("""# Starter code: one step of stochastic gradient descent
def sgd_update(params, X, y, lr=0.01):
    grads = grad(loss_fun_nn)(params, X, y)
    for param, g in zip(params, gradients):
        param -= lr * g
    return params""", [], 10)

md("""## Submission

Make sure the notebook runs from top to bottom (Kernel → Restart & Run All) before you submit it.""")

for number, cell in enumerate(cells, start=1):
    cell["id"] = f"cell-{number:02d}"  # stable ids: regenerating changes nothing

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.11.7"},
})
nbformat.validate(nb)
nbformat.write(nb, Path(__file__).with_name("correct.ipynb"))
print("wrote correct.ipynb:", len(cells), "cells")
