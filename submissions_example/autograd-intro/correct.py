# Exercises - Autograd
# A correct submission as a .py file with `# %%` cells. f and f_grad are
# defined three times (exercise 1, the course's example, exercise 4), and f1,
# f2, f1_grad, f2_grad twice (exercises 3 and 6): each exercise is graded with
# its own definitions.

# %%
from autograd import numpy as np
from autograd import grad


def fun(x):
    return (x - 3) ** 2


fun_grad = grad(fun)
print(fun(7.0), fun_grad(7.0))  # 16.0 8.0

# %% e1 Evaluate f(x) = (x - 10)^2 and its derivative at 3, 10, 12
def f(x):
    return (x - 10) ** 2


f_grad = grad(f)
print(f_grad(3.0))
print(f_grad(10.0))
print(f_grad(12.0))

# %% e3 Use autograd on slightly more complex functions
def f1(x):
    return x * np.e**x


def f2(x):
    return (x + 2**x) / (np.e**x)


def f3(x):
    return np.log(2 + x) + np.cos(x) ** 2


f1_grad = grad(f1)
f2_grad = grad(f2)
f3_grad = grad(f3)
print(f1(7.0), f1_grad(7.0))
print(f2(3.5), f2_grad(3.5))
print(f3(-0.5), f3_grad(-0.5))

# %%
# autograd differentiates with respect to the first argument, which may be a list
def f(args):
    x, y = args
    return x**2 + 3 * y


f_grad = grad(f)
args = [3.0, 2.0]
print(f(args))
print(f_grad(args))

# %% e4 All three partial derivatives of x^2 y 3^z
def f(args):
    x, y, z = args
    return x**2 * y * 3**z


f_grad = grad(f)
print(f([3.0, -1.0, 2.0]))
print(f_grad([3.0, -1.0, 2.0]))

# %% e6 Derivative of matrix multiplication
W = np.array([
    [.3, -.2, .1],
    [.1, .2, .1],
])
V = np.array([
    [.1, -.3],
    [.1, .5],
    [.2, .7],
])


def f1(args):
    W, V = args
    return np.mean(np.dot(W, V))


def f2(args):
    W, V = args
    return np.mean(np.dot(V, W))


f1_grad = grad(f1)
f2_grad = grad(f2)
print(f1([W, V]))
print(f2([W, V]))
print(f1_grad([W, V]))
print(f2_grad([W, V]))
