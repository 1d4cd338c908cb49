# Reference solution: "Backprop by hand, Jacobians, depth" (torch-backprop).
# Cells are marked `# %% p1`, `# %% p1-train`, ... `# %% p5`; each question is
# graded with the definitions in force at the end of its cells.

# %% setup
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# %% p1
def my_nn(x, params):
    """x (N, D, 1) -> y_hat = W2^T tanh(W1 x + b1) + b2, shape (N, 1, 1)."""
    h = torch.tanh(params["W1"] @ x + params["b1"])
    return params["W2"].T @ h + params["b2"]


def my_nn_grad(x, y_hat, y, params):
    """Manual gradients of MAE = mean|y_hat - y|; same keys and shapes as params."""
    n = x.shape[0]
    h = torch.tanh(params["W1"] @ x + params["b1"])          # (N, 20, 1)
    g = torch.sign(y_hat - y) / n                            # dMAE/dy_hat, (N, 1, 1)
    da = (params["W2"] * g) * (1 - h ** 2)                   # dMAE/d(W1 x + b1), (N, 20, 1)
    return {
        "W1": (da @ x.transpose(1, 2)).sum(dim=0),           # (20, D)
        "b1": da.sum(dim=0),                                 # (20, 1)
        "W2": (h * g).sum(dim=0),                            # (20, 1)
        "b2": g.sum(dim=(0, 1)),                             # (1,)
    }

# %% p1-train
def train_regressor(X, y, epochs, hidden=20, lr=0.02, batch_size=256, seed=0):
    """Mini-batch Adam on the MSE of the p1 network; returns its params dict (float64)."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    n, d = X.shape
    params = {
        "W1": torch.randn(hidden, d, generator=generator, dtype=torch.float64) / math.sqrt(d),
        "b1": torch.zeros(hidden, 1, dtype=torch.float64),
        "W2": torch.randn(hidden, 1, generator=generator, dtype=torch.float64) / math.sqrt(hidden),
        "b2": torch.zeros(1, dtype=torch.float64),
    }
    for p in params.values():
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    xs = X.unsqueeze(-1)                                     # (N, D, 1)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            y_hat = my_nn(xs[idx], params).reshape(-1)       # (B,): never (B, 1, 1) against (B,)
            loss = ((y_hat - y[idx]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {k: v.detach() for k, v in params.items()}

# %% p2a
def generate_dict(L, D, K, P):
    params = {"W1": torch.randn(K, D, dtype=torch.float64) / math.sqrt(D)}
    for i in range(2, L + 1):
        params[f"W{i}"] = torch.randn(K, K, dtype=torch.float64) / math.sqrt(K)
    params["WF"] = torch.randn(P, K, dtype=torch.float64) / math.sqrt(K)
    return params


def _forward_pass(x, L, params):
    """The pre-activations h_1 .. h_L."""
    hs = [params["W1"] @ x]
    for i in range(2, L + 1):
        hs.append(params[f"W{i}"] @ torch.tanh(hs[-1]))
    return hs


def my_backward_2a(x, L, params):
    """Reverse mode: a (P, K) row block swept from the output back to x; cost ~ P (L K^2 + K D)."""
    hs = _forward_pass(x, L, params)
    J = params["WF"] * (1 - torch.tanh(hs[-1]) ** 2)         # (P, K)
    for i in range(L, 1, -1):
        J = (J @ params[f"W{i}"]) * (1 - torch.tanh(hs[i - 2]) ** 2)
    return J @ params["W1"]                                  # (P, D)

# %% p2b
def my_forward_2b(x, L, params):
    """Forward mode: the (K, D) tangent block d h / dx pushed from x to the output; cost ~ D L K^2."""
    h = params["W1"] @ x
    T = params["W1"]                                         # d h_1 / dx, (K, D)
    for i in range(2, L + 1):
        T = params[f"W{i}"] @ ((1 - torch.tanh(h) ** 2)[:, None] * T)
        h = params[f"W{i}"] @ torch.tanh(h)
    return params["WF"] @ ((1 - torch.tanh(h) ** 2)[:, None] * T)   # (P, D)

# %% p2c
def time_modes(sizes=(32, 128, 512, 2048), L=8, K=64, repeats=20):
    """Median time of each mode for P = 1 and growing D."""
    rows = []
    for D in sizes:
        x = torch.randn(D, dtype=torch.float64)
        params = generate_dict(L, D, K, 1)
        times = {}
        for name, fn in (("reverse", my_backward_2a), ("forward", my_forward_2b)):
            fn(x, L, params)
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(x, L, params)
                samples.append(time.perf_counter() - start)
            times[name] = sorted(samples)[repeats // 2]
        rows.append((D, times["reverse"], times["forward"]))
    return rows

# %% p3
def hat_nn(x):
    return 2 * F.relu(x) - 4 * F.relu(x - 0.5) + 2 * F.relu(x - 1)


def soft_threshold_nn(x, s):
    return F.relu(x - s) - F.relu(-x - s)

# %% p4
class DeepTanhNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        sizes = [784] + [50] * depth + [10]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


def initialize_weights(model, d, xavier=False):
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if xavier:
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.uniform_(module.weight, -d, d)
            nn.init.zeros_(module.bias)

# %% p5
def gd_iterate(X, y, w0, alpha, k):
    w = w0.clone()
    for _ in range(k):
        w = w - alpha * X.T @ (X @ w - y)
    return w


def closed_form_wk(X, y, w0, alpha, k):
    n = X.shape[1]
    M = torch.eye(n, dtype=X.dtype) - alpha * X.T @ X
    total = torch.zeros(n, n, dtype=X.dtype)
    power = torch.eye(n, dtype=X.dtype)
    for _ in range(k):
        total = total + power
        power = power @ M
    return power @ w0 + alpha * total @ (X.T @ y)           # power = M^k after the loop


def least_squares_minimizer(X, y):
    return torch.linalg.solve(X.T @ X, X.T @ y)
