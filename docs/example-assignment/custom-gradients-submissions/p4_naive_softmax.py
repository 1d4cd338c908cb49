# P4 wrong: softmax without subtracting the maximum overflows at x = 1000.

# %% p4
import numpy as np


def logsumexp_grad(x):
    return np.exp(x) / np.sum(np.exp(x))
