"""torch-backprop: reference functions, analytic derivatives, inputs, wrappers, known mistakes.

Array math is written once against `xp` (numpy, autograd.numpy, jax.numpy,
torch), so `adgrade validate` can differentiate it with all three frameworks.
Wrappers (`p1_grad_wrapper`, `p1_train_predict`) are sent to the student's
process by source, alone: they use only `xp`, `sub` and their arguments.
Nothing here imports torch: the `module` checks get plain numbers and NumPy
arrays from these functions.
"""

import numpy as np

# ---------------------------------------------------------------------------
# p1: y_hat = W2^T tanh(W1 x + b1) + b2 for x (N, D, 1); MAE loss
# ---------------------------------------------------------------------------


def p1_forward(xp, x, params):
    """x (N, D, 1) -> y_hat (N, 1, 1)."""
    h = xp.tanh(xp.matmul(params["W1"], x) + params["b1"])
    return xp.matmul(params["W2"].T, h) + params["b2"]


def p1_mae(xp, x, y, params):
    """MAE = mean |y_hat - y| over the N samples."""
    return xp.mean(xp.abs(p1_forward(xp, x, params) - y))


def p1_mae_grad(xp, x, y, params):
    """Backprop by hand: dict of dMAE/dparam, same keys and shapes as params."""
    h = xp.tanh(xp.matmul(params["W1"], x) + params["b1"])                 # (N, 20, 1)
    y_hat = xp.matmul(params["W2"].T, h) + params["b2"]                    # (N, 1, 1)
    g = xp.sign(y_hat - y) / y.shape[0]                                    # dMAE/dy_hat, (N, 1, 1)
    da = params["W2"] * g * (1.0 - h ** 2)                                 # (N, 20, 1)
    return {
        "W1": xp.sum(da * x[:, None, :, 0], axis=0),                       # sum_n da_n x_n^T, (20, D)
        "b1": xp.sum(da, axis=0),                                          # (20, 1)
        "W2": xp.sum(h * g, axis=0),                                       # (20, 1)
        "b2": xp.sum(g, axis=(0, 1)),                                      # (1,)
    }


def p1_mae_grad_sign_flipped(xp, x, y, params):
    """sign(y - y_hat) where sign(y_hat - y) belongs: every gradient times -1."""
    return {k: -v for k, v in p1_mae_grad(xp, x, y, params).items()}


def p1_mae_grad_no_mean(xp, x, y, params):
    """The gradient of sum |y_hat - y|: the 1/N of the mean is missing."""
    return {k: v * y.shape[0] for k, v in p1_mae_grad(xp, x, y, params).items()}


def p1_grad_wrapper(xp, sub, x, y, params):
    """Sent to the child: y_hat from the reference forward pass, then the student's my_nn_grad.

    The forward pass is written out here (a wrapper travels alone), so a wrong
    my_nn does not spoil the grading of my_nn_grad.
    """
    h = xp.tanh(xp.matmul(params["W1"], x) + params["b1"])
    y_hat = xp.matmul(params["W2"].T, h) + params["b2"]
    return sub.my_nn_grad(x, y_hat, y, params)


def _p1_params(rng, d_in, hidden=20):
    return {
        "W1": rng.normal(scale=1.0 / np.sqrt(d_in), size=(hidden, d_in)),
        "b1": rng.normal(scale=0.5, size=(hidden, 1)),
        "W2": rng.normal(scale=1.0 / np.sqrt(hidden), size=(hidden, 1)),
        "b2": rng.normal(scale=0.5, size=(1,)),
    }


def inputs_p1_forward(rng):
    return [(rng.normal(size=(n, 10, 1)), _p1_params(rng, 10)) for n in (1, 5, 16)]


def inputs_p1_grad(rng):
    """(x, y, params) with |y_hat - y| >= 0.2 everywhere: away from the kink of |.|."""
    out = []
    for n in (4, 7, 16):
        params = _p1_params(rng, 10)
        x = rng.normal(size=(n, 10, 1))
        gap = rng.uniform(0.2, 1.0, size=(n, 1, 1)) * rng.choice([-1.0, 1.0], size=(n, 1, 1))
        out.append((x, p1_forward(np, x, params) + gap, params))
    return out


# ---------------------------------------------------------------------------
# p1-train: train_regressor(X (N, 8), y (N,), epochs) -> params of the p1 network
# ---------------------------------------------------------------------------


def p1_train_truth(xp, X, y, epochs, X_test):
    """The noise-free target the synthetic data is drawn from, on the held-out X_test (N_test,)."""
    return (
        xp.sin(1.5 * X_test[:, 0])
        + 0.5 * xp.tanh(X_test[:, 1] + X_test[:, 2])
        + 0.4 * X_test[:, 3]
        - 0.3 * X_test[:, 4] * X_test[:, 5]
        + 0.2 * xp.cos(X_test[:, 6])
    )


def p1_train_predict(xp, sub, X, y, epochs, X_test):
    """Sent to the child: train with the student's train_regressor, predict with the student's my_nn.

    Returns the predictions on the held-out X_test, shape (N_test,). X_test is
    cast to the dtype of the student's W1, so a float32 network is judged on
    what it learned, not on a dtype mismatch.
    """
    params = sub.train_regressor(X, y, epochs)
    X_eval = X_test
    if hasattr(params["W1"], "dtype") and hasattr(X_test, "to"):
        X_eval = X_test.to(params["W1"].dtype)
    predictions = sub.my_nn(X_eval.reshape(X_eval.shape[0], X_eval.shape[1], 1), params)
    return predictions.reshape(-1)


def inputs_p1_train(rng):
    """(X, y, epochs, X_test): 512 noisy training samples, 1000 held-out inputs."""
    X = rng.normal(size=(512, 8))
    y = p1_train_truth(np, None, None, None, X) + 0.1 * rng.normal(size=512)
    X_test = rng.normal(size=(1000, 8))
    return [(X, y, 200, X_test)]


# ---------------------------------------------------------------------------
# p2: h = W1 x; h = Wi tanh(h), i = 2..L; out = WF tanh(h); Jacobian d out / dx (P, D)
# ---------------------------------------------------------------------------


def p2_out(xp, x, L, params):
    h = params["W1"] @ x
    for i in range(2, L + 1):
        h = params[f"W{i}"] @ xp.tanh(h)
    return params["WF"] @ xp.tanh(h)


def p2_jacobian(xp, x, L, params):
    """Reverse mode by hand: J = WF D_L W_L ... D_1 W1 with D_i = diag(1 - tanh^2(h_i))."""
    hs = [params["W1"] @ x]
    for i in range(2, L + 1):
        hs.append(params[f"W{i}"] @ xp.tanh(hs[-1]))
    J = params["WF"] * (1.0 - xp.tanh(hs[-1]) ** 2)[None, :]              # (P, K)
    for i in range(L, 1, -1):
        J = (J @ params[f"W{i}"]) * (1.0 - xp.tanh(hs[i - 2]) ** 2)[None, :]
    return J @ params["W1"]                                                # (P, D)


def p2_jacobian_transposed(xp, x, L, params):
    """(D, P) instead of (P, D)."""
    return p2_jacobian(xp, x, L, params).T


def generate_dict(rng, L, D, K, P):
    """The course's generate_dict(L, D, K, P), seeded: W1 (K, D), W2..WL (K, K), WF (P, K)."""
    params = {"W1": rng.normal(scale=1.0 / np.sqrt(D), size=(K, D))}
    for i in range(2, L + 1):
        params[f"W{i}"] = rng.normal(scale=1.0 / np.sqrt(K), size=(K, K))
    params["WF"] = rng.normal(scale=1.0 / np.sqrt(K), size=(P, K))
    return params


def inputs_p2(rng):
    """(x, L, params) with D != K != P, L = 1 (no hidden Wi) included."""
    out = []
    for L, D, K, P in ((3, 7, 5, 3), (1, 6, 4, 2), (4, 9, 6, 4), (2, 5, 8, 1)):
        out.append((rng.normal(size=D), L, generate_dict(rng, L, D, K, P)))
    return out


def inputs_p2c(rng, D):
    """One input per size D of the timing check: P = 1, K = 64, L = 8."""
    return (rng.normal(size=D), 8, generate_dict(rng, 8, D, 64, 1))


# ---------------------------------------------------------------------------
# p3: ReLU networks. relu(z) = (z + |z|) / 2 works with every xp.
# ---------------------------------------------------------------------------


def _relu(xp, z):
    return 0.5 * (z + xp.abs(z))


def hat(xp, x):
    """2x on [0, 1/2], 2(1 - x) on [1/2, 1], 0 elsewhere: 2 relu(x) - 4 relu(x - 1/2) + 2 relu(x - 1)."""
    return 2.0 * _relu(xp, x) - 4.0 * _relu(xp, x - 0.5) + 2.0 * _relu(xp, x - 1.0)


def hat_slope_one(xp, x):
    """Slopes +-1 instead of +-2: peaks at 1/2 instead of 1."""
    return 0.5 * hat(xp, x)


def hat_no_right_kink(xp, x):
    """relu(2x) - relu(4x - 2) without the third unit: -2(x - 1) keeps falling below 0 after x = 1."""
    return 2.0 * _relu(xp, x) - 4.0 * _relu(xp, x - 0.5)


def soft_threshold(xp, x, s):
    """max(|x| - s, 0) sign(x) = relu(x - s) - relu(-x - s)."""
    return _relu(xp, x - s) - _relu(xp, -x - s)


def soft_threshold_no_sign(xp, x, s):
    """max(|x| - s, 0): the sign of x is lost."""
    return _relu(xp, xp.abs(x) - s)


def _away_from(rng, n, low, high, kinks, margin=0.02):
    x = rng.uniform(low, high, size=4 * n)
    keep = np.all(np.abs(x[:, None] - np.asarray(kinks)[None, :]) > margin, axis=1)
    return x[keep][:n]


def inputs_p3_hat(rng):
    return [(_away_from(rng, 40, -1.0, 2.0, [0.0, 0.5, 1.0]),), (_away_from(rng, 9, -0.5, 1.5, [0.0, 0.5, 1.0]),)]


def inputs_p3_soft(rng):
    return [(_away_from(rng, 40, -3.0, 3.0, [-s, 0.0, s]), s) for s in (0.5, 1.3)]


# ---------------------------------------------------------------------------
# p4: DeepTanhNet(depth): 784 -> 50 -> ... -> 50 -> 10, tanh, depth + 1 nn.Linear
# ---------------------------------------------------------------------------


def p4_layer_shapes(depth):
    """The nn.Linear weight shapes (out, in), in order."""
    return [(50, 784)] + [(50, 50)] * (depth - 1) + [(10, 50)]


def p4_forward(xp, weights, biases, x):
    """The module's forward pass with the given Linear weights: tanh after every layer but the last."""
    h = xp.reshape(x, (x.shape[0], -1))
    for W, b in zip(weights[:-1], biases[:-1]):
        h = xp.tanh(h @ W.T + b)
    return h @ weights[-1].T + biases[-1]


def p4_output_shape(input_shape):
    return (input_shape[0], 10)


def p4_init_bound(fan_in, fan_out, d, xavier):
    """Weights must look U(-bound, bound); biases are 0."""
    return float(np.sqrt(6.0 / (fan_in + fan_out))) if xavier else float(d)


def p4_init_bound_xavier_std(fan_in, fan_out, d, xavier):
    """Known mistake: sqrt(2 / (fan_in + fan_out)), Xavier's normal std, used as the uniform bound."""
    return float(np.sqrt(2.0 / (fan_in + fan_out))) if xavier else float(d)


def p4_init_bound_xavier_fan_in(fan_in, fan_out, d, xavier):
    """Known mistake: sqrt(6 / fan_in) (He-style) instead of sqrt(6 / (fan_in + fan_out))."""
    return float(np.sqrt(6.0 / fan_in)) if xavier else float(d)


def inputs_p4_forward(rng):
    """Batches forwarded through the module: MNIST-shaped (B, 1, 28, 28) and flat (B, 784)."""
    return [(rng.uniform(0.0, 1.0, size=(4, 1, 28, 28)),), (rng.uniform(0.0, 1.0, size=(3, 784)),)]


def p4_batch(rng):
    """The fixed batch for gradient norms: 64 synthetic images in [0, 1] and labels in 0..9."""
    return (rng.uniform(0.0, 1.0, size=(64, 1, 28, 28)), rng.integers(0, 10, size=64))


# ---------------------------------------------------------------------------
# p5: gradient descent on 1/2 ||Xw - y||^2
# ---------------------------------------------------------------------------


def p5_gd(xp, X, y, w0, alpha, k):
    """w_k after k steps w <- w - alpha X^T (Xw - y); equals the closed form w_k."""
    w = w0
    for _ in range(k):
        w = w - alpha * (X.T @ (X @ w - y))
    return w


def p5_closed_form_alpha_outside(xp, X, y, w0, alpha, k):
    """alpha((I - aX^TX)^k w0 + sum_i (I - aX^TX)^i X^T y): alpha also scales the w0 term."""
    Mk_w0 = w0
    for _ in range(k):
        Mk_w0 = Mk_w0 - alpha * (X.T @ (X @ Mk_w0))
    return p5_gd(xp, X, y, w0, alpha, k) + (alpha - 1.0) * Mk_w0


def p5_closed_form_alpha_missing(xp, X, y, w0, alpha, k):
    """(I - aX^TX)^k w0 + sum_i (I - aX^TX)^i X^T y: the alpha in front of the sum is missing."""
    Mk_w0 = w0
    for _ in range(k):
        Mk_w0 = Mk_w0 - alpha * (X.T @ (X @ Mk_w0))
    return Mk_w0 + (p5_gd(xp, X, y, w0, alpha, k) - Mk_w0) / alpha


def p5_minimizer(xp, X, y):
    return xp.linalg.solve(X.T @ X, X.T @ y)


def p5_limit(xp, X, y, w0, alpha, k):
    """The point gradient descent approaches when it converges."""
    return xp.linalg.solve(X.T @ X, X.T @ y)


def p5_converges(xp, X, y, w0, alpha, k):
    """Gradient descent on 1/2||Xw - y||^2 converges iff 0 < alpha < 2 / lambda_max(X^T X)."""
    lam_max = xp.linalg.eigvalsh(X.T @ X)[-1]
    return bool(0.0 < alpha < 2.0 / float(lam_max))


def _p5_problem(rng, m=20, n=4):
    """A well-conditioned X (m, n): singular values in [1, 3]."""
    Q1, _ = np.linalg.qr(rng.normal(size=(m, n)))
    Q2, _ = np.linalg.qr(rng.normal(size=(n, n)))
    X = Q1 @ np.diag(np.linspace(3.0, 1.0, n)) @ Q2
    y = X @ rng.normal(size=n) + 0.3 * rng.normal(size=m)
    w0 = rng.normal(size=n)  # never 0: an alpha misplaced on the w0 term must show
    lam_max = np.linalg.eigvalsh(X.T @ X)[-1]
    return X, y, w0, lam_max


def inputs_p5_trajectory(rng):
    """(X, y, w0, alpha); the trajectory check appends k."""
    out = []
    for factor in (0.3, 0.8):
        X, y, w0, lam_max = _p5_problem(rng)
        out.append((X, y, w0, float(factor * 2.0 / lam_max)))
    return out


def inputs_p5_closed_form(rng):
    out = []
    # k >= 1: at k = 0 the "alpha missing" mistake equals the answer and could not be told apart
    for factor, k in ((0.3, 1), (0.8, 2), (0.8, 3), (0.5, 10), (0.9, 25)):
        X, y, w0, lam_max = _p5_problem(rng)
        out.append((X, y, w0, float(factor * 2.0 / lam_max), k))
    return out


def inputs_p5_minimizer(rng):
    out = []
    for m, n in ((20, 4), (9, 6)):
        X, y, _, _ = _p5_problem(rng, m, n)
        out.append((X, y))
    return out


def inputs_p5_convergence(rng):
    """(X, y, w0, alpha, k) with alpha = factor * 2 / lambda_max: below 1 converges, above diverges."""
    out = []
    for factor in (0.5, 0.95, 1.05, 1.3):
        X, y, w0, lam_max = _p5_problem(rng)
        out.append((X, y, w0, float(factor * 2.0 / lam_max), 400))
    return out
