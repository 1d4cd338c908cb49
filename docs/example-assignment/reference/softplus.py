# The reference solution of the softplus example assignment (docs/instructor-guide.md).

# %% q1 Softplus
import numpy as np


def softplus(x):
    # log(1 + e^x) without overflow: numpy's logaddexp(0, x) = log(e^0 + e^x)
    return np.logaddexp(0.0, x)


# %% q2 Gradient of softplus
def softplus_grad(x):
    # d/dx log(1 + e^x) = e^x / (1 + e^x) = 1 / (1 + e^-x), written without overflow
    return np.exp(-np.logaddexp(0.0, -x))
