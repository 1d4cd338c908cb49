"""jax-objectives: reference functions, analytic derivatives, inputs, known mistakes.

Every function taking `xp` is written once against the array namespace it is
handed (numpy, autograd.numpy, jax.numpy, torch), so `adgrade validate` can
differentiate `function`s with all three frameworks and compare them with the
`analytic` ones. Functions that are sent to the student's process by source
(`fd_objective`) use nothing but `xp` and their arguments.
"""

import numpy as np

# ---------------------------------------------------------------------------
# t1: f(w, x) = cos(w1 x1 + w2) + exp(-w5 x2) sin(w3 x2 + w4); mse over a batch
# ---------------------------------------------------------------------------


def f_t1(xp, w, x):
    """One sample x = (x1, x2)."""
    return xp.cos(w[0] * x[0] + w[1]) + xp.exp(-w[4] * x[1]) * xp.sin(w[2] * x[1] + w[3])


def _f_batch(xp, w, X):
    """f on every row of X (m, 2): the features are the columns."""
    x1, x2 = X[:, 0], X[:, 1]
    return xp.cos(w[0] * x1 + w[1]) + xp.exp(-w[4] * x2) * xp.sin(w[2] * x2 + w[3])


def _f_batch_grad(xp, w, X):
    """The per-sample gradients of f w.r.t. w, shape (m, 5)."""
    x1, x2 = X[:, 0], X[:, 1]
    a = w[0] * x1 + w[1]
    b = w[2] * x2 + w[3]
    e = xp.exp(-w[4] * x2)
    return xp.stack(
        [-xp.sin(a) * x1, -xp.sin(a), e * xp.cos(b) * x2, e * xp.cos(b), -x2 * e * xp.sin(b)],
        axis=1,
    )


def mse_t1(xp, w, X, y):
    return xp.mean((y - _f_batch(xp, w, X)) ** 2)


def mse_t1_grad(xp, w, X, y):
    """grad_w mse = mean_i -2 (y_i - f(w, x_i)) grad_w f(w, x_i)."""
    r = y - _f_batch(xp, w, X)
    return xp.mean((-2.0 * r)[:, None] * _f_batch_grad(xp, w, X), axis=0)


# known wrong answers (same signature as the expected side)

def mse_t1_y_column(xp, w, X, y):
    """y used as a column (m, 1) against predictions (m,): the mean of an m x m grid."""
    return xp.mean((y[:, None] - _f_batch(xp, w, X)[None, :]) ** 2)


def mse_t1_y_column_grad(xp, w, X, y):
    """The gradient of mse_t1_y_column: mean_j -2(mean(y) - f_j) grad f_j (y enters only through its mean)."""
    r = xp.mean(y) - _f_batch(xp, w, X)
    return xp.mean((-2.0 * r)[:, None] * _f_batch_grad(xp, w, X), axis=0)


def mse_t1_grad_of_f_sum(xp, w, X, y):
    """The gradient of f summed over the samples: the -2(y - f)/m weights are missing."""
    return xp.sum(_f_batch_grad(xp, w, X), axis=0)


def mse_t1_grad_of_f_mean(xp, w, X, y):
    """The gradient of f averaged over the samples: the -2(y - f) weights are missing."""
    return xp.mean(_f_batch_grad(xp, w, X), axis=0)


def mse_t1_grad_no_minus2(xp, w, X, y):
    """mean_i (y_i - f_i) grad f_i: the -2 from d/df (y - f)^2 is missing."""
    r = y - _f_batch(xp, w, X)
    return xp.mean(r[:, None] * _f_batch_grad(xp, w, X), axis=0)


# inputs

W_TRUE_T1 = np.array([0.8, -0.3, 1.2, 0.5, 0.4])


def inputs_t1_f(rng):
    return [(rng.uniform(-1.0, 1.0, 5), rng.normal(size=2)) for _ in range(6)]


def _t1_data(rng, m):
    X = rng.normal(size=(m, 2))
    y = _f_batch(np, W_TRUE_T1, X) + 0.1 * rng.normal(size=m)
    w = W_TRUE_T1 + rng.normal(scale=0.5, size=5)
    return (w, X, y)


def inputs_t1_mse(rng):
    # m never 2, so that a batch indexed as x[0], x[1] cannot broadcast by chance
    return [_t1_data(rng, m) for m in (7, 13, 30, 51)]


# ---------------------------------------------------------------------------
# t2: cross-entropy, a linear model, its gradient, finite differences
# ---------------------------------------------------------------------------


def _log_softmax(xp, z):
    s = z - xp.amax(z, axis=1, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=1, keepdims=True))


def _one_hot(xp, labels, num_classes):
    """(N, C) of 0.0 / 1.0 (a float, not a bool: torch cannot subtract bools)."""
    return (labels[:, None] == xp.arange(num_classes)[None, :]) * 1.0


def cross_entropy_t2(xp, y_true, y_pred):
    """Mean over the N samples of -log softmax(y_pred)[y_true]; stable for any finite logits."""
    logp = _log_softmax(xp, y_pred)
    return -xp.mean(xp.sum(_one_hot(xp, y_true, y_pred.shape[1]) * logp, axis=1))


def linear_model_t2(xp, X, W, b):
    return X @ W.T + b


def linear_model_t2_transposed(xp, X, W, b):
    """W X^T + b: the (C, N) transpose of the answer."""
    return W @ X.T + b[:, None]


def loss_t2(xp, W, b, X, y):
    return cross_entropy_t2(xp, y, linear_model_t2(xp, X, W, b))


def loss_t2_grad(xp, W, b, X, y):
    """(dL/dW, dL/db) = ((P - Y)^T X / N, mean(P - Y))."""
    Z = X @ W.T + b
    G = (xp.exp(_log_softmax(xp, Z)) - _one_hot(xp, y, Z.shape[1])) / Z.shape[0]
    return (G.T @ X, xp.sum(G, axis=0))


def fd_objective(xp, params):
    """The `func` handed to the student's numerical_gradient (sent by source, alone).

    Couples every element, so perturbing a whole row at once gives wrong values.
    """
    return xp.sum(xp.cos(params)) + xp.log(1.0 + xp.sum(params ** 2))


def fd_objective_grad(xp, params):
    return -xp.sin(params) + 2.0 * params / (1.0 + xp.sum(params ** 2))


# inputs

def inputs_t2_ce(rng):
    out = []
    for n, c in ((6, 3), (10, 5), (1, 4)):
        out.append((rng.integers(0, c, size=n), rng.normal(scale=2.0, size=(n, c))))
    return out


def inputs_t2_ce_extreme(rng):
    """Logits of +-1000: exp overflows unless the maximum is subtracted first."""
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0], [1000.0, 999.0, -1000.0]])
    return [
        (np.array([0, 1, 1]), logits),            # labels on large logits: loss 0.4377538958394076
        (np.array([1, 0, 2]), logits),            # labels on -1000: loss 2000.104420562506
        (np.array([0, 0]), np.array([[-1000.0, -1000.0], [-1000.0, -998.0]])),  # all logits -1000: 1.410037595801459
    ]


def inputs_t2_linear(rng):
    # C != n and N different from both: a transposed or W X answer cannot pass by chance
    return [
        (rng.normal(size=(n_samples, n)), rng.normal(size=(c, n)), rng.normal(size=c))
        for n_samples, n, c in ((9, 6, 4), (5, 7, 3))
    ]


def inputs_t2_loss_grad(rng):
    out = []
    for n_samples, n, c in ((9, 6, 4), (12, 3, 5)):
        W = rng.normal(size=(c, n))
        b = rng.normal(size=c)
        X = rng.normal(size=(n_samples, n))
        y = rng.integers(0, c, size=n_samples)
        out.append((W, b, X, y))
    return out


def inputs_t2_numgrad(rng):
    """(params, epsilon): the student's entry is called as numerical_gradient(func, params, epsilon)."""
    return [
        (rng.normal(size=5), 1e-5),
        (rng.normal(size=(3, 4)), 1e-5),      # a 2-D W (C != n)
        (rng.normal(size=(4, 2)), 1e-6),
        (rng.normal(size=(2, 3, 2)), 1e-5),   # "any shape"
    ]


# ---------------------------------------------------------------------------
# t3: L(U, V) = ||X - UV||_F^2 + lambda/2 ||U||_F^2 + lambda/2 ||V||_F^2
# ---------------------------------------------------------------------------


def loss_t3(xp, U, V, X, lambda_):
    R = X - U @ V
    return xp.sum(R ** 2) + lambda_ / 2 * (xp.sum(U ** 2) + xp.sum(V ** 2))


def loss_t3_grad(xp, U, V, X, lambda_):
    R = X - U @ V
    return (-2.0 * R @ V.T + lambda_ * U, -2.0 * U.T @ R + lambda_ * V)


# known wrong answers

def loss_t3_norm_not_squared(xp, U, V, X, lambda_):
    R = X - U @ V
    return xp.sqrt(xp.sum(R ** 2)) + lambda_ / 2 * (xp.sqrt(xp.sum(U ** 2)) + xp.sqrt(xp.sum(V ** 2)))


def loss_t3_lambda_not_halved(xp, U, V, X, lambda_):
    R = X - U @ V
    return xp.sum(R ** 2) + lambda_ * (xp.sum(U ** 2) + xp.sum(V ** 2))


def loss_t3_grad_missing_2(xp, U, V, X, lambda_):
    R = X - U @ V
    return (-R @ V.T + lambda_ * U, -U.T @ R + lambda_ * V)


def loss_t3_grad_data_sign(xp, U, V, X, lambda_):
    R = X - U @ V
    return (2.0 * R @ V.T + lambda_ * U, 2.0 * U.T @ R + lambda_ * V)


def loss_t3_grad_lambda_halved(xp, U, V, X, lambda_):
    R = X - U @ V
    return (-2.0 * R @ V.T + lambda_ / 2 * U, -2.0 * U.T @ R + lambda_ / 2 * V)


# inputs

def _t3_args(rng, m, n, k, lambda_):
    return (
        rng.normal(scale=0.5, size=(m, k)),
        rng.normal(scale=0.5, size=(k, n)),
        rng.normal(size=(m, n)),
        float(lambda_),
    )


def inputs_t3(rng):
    # m, n, k all different, so a transposed factor cannot pass
    return [_t3_args(rng, m, n, k, lam) for m, n, k, lam in ((6, 5, 3, 1.0), (9, 4, 2, 0.5), (5, 8, 4, 2.3))]


def inputs_t3_large(rng):
    """The catalog's size for jax.grad of the student's L: m = 1000, n = 100, k = 10, lambda = 1."""
    return [_t3_args(rng, 1000, 100, 10, 1.0)]


def inputs_t3_timing(rng, size):
    """One input per size [m, n, k] of the timing check's `scaling` list."""
    m, n, k = size
    return _t3_args(rng, m, n, k, 1.0)
