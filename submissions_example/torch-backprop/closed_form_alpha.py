# Backprop by hand, Jacobians, depth
# Example with a mistake: closed_form_wk puts alpha outside the whole expression instead of on the sum only.

# %% imports
import math
import time

import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)

# %% p1
def my_nn(x, params):
    z = torch.matmul(params["W1"], x) + params["b1"]
    a = torch.tanh(z)
    return torch.matmul(params["W2"].T, a) + params["b2"]


def my_nn_grad(x, y_hat, y, params):
    N = x.shape[0]
    grads = {k: torch.zeros_like(v) for k, v in params.items()}
    for n in range(N):
        z = params["W1"] @ x[n] + params["b1"]          # (20, 1)
        a = torch.tanh(z)
        dL_dyhat = torch.sign(y_hat[n] - y[n]) / N       # (1, 1)
        grads["W2"] += a * dL_dyhat
        grads["b2"] += dL_dyhat.reshape(1)
        dz = params["W2"] * dL_dyhat * (1 - a ** 2)      # (20, 1)
        grads["W1"] += dz @ x[n].T
        grads["b1"] += dz
    return grads


# check against autograd
torch.manual_seed(0)
p = {"W1": torch.randn(20, 10), "b1": torch.randn(20, 1), "W2": torch.randn(20, 1), "b2": torch.randn(1)}
xs, ys = torch.randn(5, 10, 1), torch.randn(5, 1, 1)
g = my_nn_grad(xs, my_nn(xs, p), ys, p)
q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
torch.mean(torch.abs(my_nn(xs, q) - ys)).backward()
print(all(torch.allclose(g[k], q[k].grad) for k in p))

# %% p1-train
def train_regressor(X, y, epochs):
    X = X.float()
    y = y.float()
    params = {
        "W1": (torch.randn(20, X.shape[1], dtype=torch.float32) * 0.3).requires_grad_(),
        "b1": torch.zeros(20, 1, dtype=torch.float32, requires_grad=True),
        "W2": (torch.randn(20, 1, dtype=torch.float32) * 0.3).requires_grad_(),
        "b2": torch.zeros(1, dtype=torch.float32, requires_grad=True),
    }
    optimizer = torch.optim.Adam(params.values(), lr=0.01)
    dataset = torch.utils.data.TensorDataset(X, y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True)
    for epoch in range(epochs):
        for xb, yb in loader:
            y_hat = my_nn(xb.unsqueeze(2), params).squeeze()
            loss = torch.mean((y_hat - yb) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return params

# %% p2a
def generate_dict(L, D, K, P):
    params = {"W1": torch.randn(K, D) / math.sqrt(D)}
    for i in range(2, L + 1):
        params["W" + str(i)] = torch.randn(K, K) / math.sqrt(K)
    params["WF"] = torch.randn(P, K) / math.sqrt(K)
    return params


def my_backward_2a(x, L, params):
    # forward pass, keeping the activations
    hs = []
    h = params["W1"] @ x
    hs.append(h)
    for i in range(2, L + 1):
        h = params["W" + str(i)] @ torch.tanh(h)
        hs.append(h)
    # backward pass: vector-Jacobian products from the output
    grad = params["WF"] @ torch.diag(1 - torch.tanh(hs[-1]) ** 2)
    for i in range(L, 1, -1):
        grad = grad @ params["W" + str(i)] @ torch.diag(1 - torch.tanh(hs[i - 2]) ** 2)
    return grad @ params["W1"]

# %% p2b
def my_forward_2b(x, L, params):
    h = params["W1"] @ x
    dh = params["W1"].clone()                 # dh/dx
    for i in range(2, L + 1):
        dh = params["W" + str(i)] @ (torch.diag(1 - torch.tanh(h) ** 2) @ dh)
        h = params["W" + str(i)] @ torch.tanh(h)
    return params["WF"] @ torch.diag(1 - torch.tanh(h) ** 2) @ dh

# %% p2c
L, K = 5, 32
for D in [10, 100, 1000]:
    x = torch.randn(D)
    params = generate_dict(L, D, K, 1)
    t0 = time.time(); my_backward_2a(x, L, params); t1 = time.time()
    my_forward_2b(x, L, params); t2 = time.time()
    print(f"D={D}: reverse {t1 - t0:.5f}s, forward {t2 - t1:.5f}s")

# %% p3
relu = nn.ReLU()


def hat_nn(x):
    return 2 * relu(x) - 4 * relu(x - 0.5) + 2 * relu(x - 1)


def soft_threshold_nn(x, s):
    return relu(x - s) - relu(-x - s)

# %% p4
class DeepTanhNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        layers = [nn.Flatten(), nn.Linear(784, 50), nn.Tanh()]
        for _ in range(depth - 1):
            layers += [nn.Linear(50, 50), nn.Tanh()]
        layers.append(nn.Linear(50, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def initialize_weights(model, d, xavier=False):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if xavier:
                bound = math.sqrt(6 / (m.in_features + m.out_features))
            else:
                bound = d
            with torch.no_grad():
                m.weight.uniform_(-bound, bound)
                m.bias.zero_()

# %% p5
def gd_iterate(X, y, w0, alpha, k):
    w = w0.clone()
    for _ in range(k):
        grad = X.T @ (X @ w - y)
        w = w - alpha * grad
    return w


def closed_form_wk(X, y, w0, alpha, k):
    n = X.shape[1]
    M = torch.eye(n) - alpha * X.T @ X
    S = torch.zeros(n, n)
    for i in range(k):
        S = S + torch.linalg.matrix_power(M, i)
    return alpha * (torch.linalg.matrix_power(M, k) @ w0 + S @ X.T @ y)


def least_squares_minimizer(X, y):
    return torch.linalg.inv(X.T @ X) @ X.T @ y
