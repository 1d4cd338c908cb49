# %% [markdown]
# # Exercises: autograd — reference solution
#
# Graded by `problems/autograd-intro` (exercises 1, 3, 4 and 6; 2 and 5 are
# done on paper). Each question's cells start with a `# %% <id>` marker; a
# question is graded with the definitions in force at the end of its own
# cells: `f` and `f_grad` mean (x - 10)² in e1 and x²·y·3ᶻ in e4, and `f1`,
# `f2`, `f1_grad`, `f2_grad` are redefined in e6.

# %% setup
from autograd import numpy as np
from autograd import grad

# %% e1 Evaluate f(x) = (x - 10)^2 and its derivative at 3, 10 and 12
def f(x):
    return (x - 10) ** 2


f_grad = grad(f)
print(f_grad(3.0), f_grad(10.0), f_grad(12.0))  # -14.0 0.0 4.0

# %% e3 Derivatives of x e^x, (x + 2^x) / e^x and ln(2 + x) + cos^2(x)
def f1(x):
    return x * np.exp(x)


def f2(x):
    return (x + 2**x) / np.exp(x)


def f3(x):
    return np.log(2 + x) + np.cos(x) ** 2


f1_grad = grad(f1)
f2_grad = grad(f2)
f3_grad = grad(f3)
print(f1(7.0), f1_grad(7.0))  # 7676.432108999208 8773.065267427666
print(f2(3.5), f2_grad(3.5))  # 0.44733523545030124 -0.1803280039386241
print(f3(-0.5), f3_grad(-0.5))  # 1.1756162610422343 1.5081376514745632

# %%
# The course's example between the exercises: grad of a function of a list
# differentiates with respect to every element. It redefines f and f_grad,
# which e1 no longer sees (e1 was graded at the end of its own cell).
def f(args):
    x, y = args
    return x**2 + 3 * y


f_grad = grad(f)
print(f([3.0, 2.0]), f_grad([3.0, 2.0]))  # 15.0 [6.0, 3.0]

# %% e4 All three partial derivatives of f(x, y, z) = x^2 y 3^z at [3, -1, 2]
def f(args):
    x, y, z = args
    return x**2 * y * 3**z


f_grad = grad(f)
print(f([3.0, -1.0, 2.0]))  # -81.0
print(f_grad([3.0, -1.0, 2.0]))  # [-54.0, 81.0, -88.98759538]

# %% e6 Derivatives of mean(W V) and mean(V W)
W = np.array([
    [0.3, -0.2, 0.1],
    [0.1, 0.2, 0.1],
])
V = np.array([
    [0.1, -0.3],
    [0.1, 0.5],
    [0.2, 0.7],
])


def f1(args):
    W, V = args
    return np.mean(W @ V)


def f2(args):
    W, V = args
    return np.mean(V @ W)


f1_grad = grad(f1)
f2_grad = grad(f2)
print(f1([W, V]), f2([W, V]))  # 0.025 0.04888888888888888
print(f1_grad([W, V]))
print(f2_grad([W, V]))
# The results differ: W V is (2, 2) and V W is (3, 3), so the two means
# average different numbers, and so do their gradients.
