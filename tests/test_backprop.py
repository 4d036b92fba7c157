"""Tests of optbench.backprop against independent truth.

The truth is: a plain reference forward pass written here from the documented
layout (W_l row-major then b_l, layer by layer; ``h @ W + b``) and textbook
loss formulas, differentiated by central finite differences; PyTorch autograd;
and the network itself run one run at a time.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from optbench import backprop
from optbench.backprop import MLP

HIDDEN = ["relu", "tanh", "sigmoid", "identity"]
HEADS = [("sigmoid", "mse"), ("sigmoid", "bce"), ("identity", "mse"),
         ("softmax", "cross-entropy")]
VALID_TEXT = "sigmoid+mse, sigmoid+bce, identity+mse, softmax+cross-entropy"


# ---------------------------------------------------------------------------
# Independent reference: a naive forward pass and loss, one run at a time.
# ---------------------------------------------------------------------------

def ref_layers(sizes, theta):
    """(W, b) per layer, read from the flat vector by the documented layout."""
    out, pos = [], 0
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        W = theta[pos:pos + d_in * d_out].reshape(d_in, d_out)
        pos += d_in * d_out
        b = theta[pos:pos + d_out]
        pos += d_out
        out.append((W, b))
    assert pos == len(theta)
    return out


REF_ACT = {
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


def ref_logits(sizes, hidden, theta, X):
    h = X
    layers = ref_layers(sizes, theta)
    for i, (W, b) in enumerate(layers):
        z = h @ W + b
        h = REF_ACT[hidden](z) if i < len(layers) - 1 else z
    return z


def ref_loss(sizes, hidden, output, loss, theta, X, y):
    """Textbook formulas, fine for moderate logits."""
    z = ref_logits(sizes, hidden, theta, X)
    if output == "softmax":
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(y)), y]))
    y = y.reshape(z.shape)
    if output == "identity":
        return np.mean((z - y) ** 2)
    p = 1.0 / (1.0 + np.exp(-z))
    if loss == "mse":
        return np.mean((p - y) ** 2)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def central_differences(f, theta, h=1e-6):
    g = np.empty_like(theta)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h
        g[j] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def make_targets(net, n, rng):
    k = net.sizes[-1]
    if net.loss_name == "cross-entropy":
        return rng.integers(0, k, n)
    if net.loss_name == "bce":
        y = (rng.random((n, k)) < 0.5).astype(float)
    else:
        y = rng.normal(size=(n, k)) if net.output == "identity" else rng.random((n, k))
    return y[:, 0] if k == 1 else y


def make_problem(sizes, hidden, output, loss, n=12, n_runs=None, seed=0):
    rng = np.random.default_rng(seed)
    net = MLP(sizes, hidden=hidden, output=output, loss=loss)
    X = rng.normal(size=(n, sizes[0]))
    y = make_targets(net, n, rng)
    theta = net.init_params(rng, n_runs=n_runs)
    # non-zero biases, so that the bias gradients are tested too
    theta = theta + 0.1 * rng.normal(size=theta.shape)
    return net, X, y, theta


def assert_close(actual, expected, rtol):
    """Elementwise relative error below rtol, with an absolute floor of rtol
    times the largest entry (for entries that are zero or nearly so)."""
    expected = np.asarray(expected)
    floor = rtol * max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=floor)


# ---------------------------------------------------------------------------
# Gradients: central finite differences of the reference loss
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", HEADS)
@pytest.mark.parametrize("n_runs", [None, 3])
@pytest.mark.parametrize("minibatch", [False, True])
def test_gradient_matches_finite_differences(hidden, output, loss, n_runs, minibatch):
    k = 3 if output == "softmax" else 2 if (hidden, loss) == ("tanh", "mse") else 1
    sizes = [3, 5, 4, k]
    net, X, y, theta = make_problem(sizes, hidden, output, loss, n=12, n_runs=n_runs)
    rng = np.random.default_rng(1)
    if minibatch:
        idx = rng.integers(0, len(X), size=7 if n_runs is None else (n_runs, 7))
    else:
        idx = None

    L, G = net.loss_and_grad(theta, X, y, idx=idx)
    assert G.shape == theta.shape and G.dtype == np.float64
    assert np.shape(L) == (() if n_runs is None else (n_runs,))

    thetas = theta[None] if n_runs is None else theta
    for r in range(len(thetas)):
        rows = None if idx is None else (idx if n_runs is None else idx[r])
        Xr = X if rows is None else X[rows]
        yr = y if rows is None else y[rows]
        f = lambda t: ref_loss(sizes, hidden, output, loss, t, Xr, yr)
        g_fd = central_differences(f, thetas[r])
        Lr = L if n_runs is None else L[r]
        Gr = G if n_runs is None else G[r]
        assert_close(Lr, f(thetas[r]), rtol=1e-12)
        assert_close(Gr, g_fd, rtol=1e-6)


# ---------------------------------------------------------------------------
# Gradients and losses: PyTorch autograd
# ---------------------------------------------------------------------------

def torch_loss_and_grad(torch, sizes, hidden, output, loss, theta, X, y):
    F = torch.nn.functional
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "identity": lambda z: z}[hidden]
    h, pos = torch.tensor(X, dtype=torch.float64), 0
    n_layers = len(sizes) - 1
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = t[pos:pos + d_in * d_out].view(d_in, d_out)  # row-major
        pos += d_in * d_out
        b = t[pos:pos + d_out]
        pos += d_out
        z = h @ W + b
        h = act(z) if i < n_layers - 1 else z
    if output == "softmax":
        value = F.cross_entropy(z, torch.tensor(y, dtype=torch.int64))
    else:
        ty = torch.tensor(np.asarray(y, dtype=float).reshape(z.shape))
        if output == "identity":
            value = F.mse_loss(z, ty)
        elif loss == "mse":
            value = F.mse_loss(torch.sigmoid(z), ty)
        else:
            value = F.binary_cross_entropy_with_logits(z, ty)
    value.backward()
    return value.item(), t.grad.numpy()


TORCH_NETS = [
    ([2, 32, 32, 1], "relu", "sigmoid", "mse"),
    ([2, 16, 1], "tanh", "sigmoid", "bce"),
    ([4, 8, 8, 8, 3], "sigmoid", "identity", "mse"),
    ([5, 20, 4], "relu", "softmax", "cross-entropy"),
    ([3, 10, 6, 5], "tanh", "softmax", "cross-entropy"),
    ([1, 7, 1], "identity", "identity", "mse"),
    ([6, 12, 2], "sigmoid", "sigmoid", "bce"),
]


@pytest.mark.parametrize("sizes,hidden,output,loss", TORCH_NETS)
@pytest.mark.parametrize("minibatch", [False, True])
def test_matches_torch_autograd(sizes, hidden, output, loss, minibatch):
    torch = pytest.importorskip("torch")
    n_runs = 4
    net, X, y, theta = make_problem(sizes, hidden, output, loss, n=64, n_runs=n_runs)
    idx = np.random.default_rng(2).integers(0, 64, (n_runs, 16)) if minibatch else None
    L, G = net.loss_and_grad(theta, X, y, idx=idx)
    for r in range(n_runs):
        Xr, yr = (X, y) if idx is None else (X[idx[r]], y[idx[r]])
        Lt, Gt = torch_loss_and_grad(torch, sizes, hidden, output, loss, theta[r], Xr, yr)
        assert_close(L[r], Lt, rtol=1e-10)
        assert_close(G[r], Gt, rtol=1e-10)
        # and the single-run call
        L1, G1 = net.loss_and_grad(theta[r], X, y, idx=None if idx is None else idx[r])
        assert_close(L1, Lt, rtol=1e-10)
        assert_close(G1, Gt, rtol=1e-10)


# ---------------------------------------------------------------------------
# A batch of runs gives each run what it gets alone
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", HEADS)
@pytest.mark.parametrize("minibatch", [False, True])
def test_batch_of_runs_equals_runs_alone(hidden, output, loss, minibatch):
    k = 4 if output == "softmax" else 1
    net, X, y, theta = make_problem([3, 16, 8, k], hidden, output, loss, n=40, n_runs=5)
    idx = np.random.default_rng(3).integers(0, 40, (5, 10)) if minibatch else None
    L, G = net.loss_and_grad(theta, X, y, idx=idx)
    Lonly = net.loss(theta, X, y, idx=idx)
    out = net.forward(theta, X, idx=idx)
    # the loss-only path does the same arithmetic as loss_and_grad
    np.testing.assert_array_equal(Lonly, L)
    for r in range(5):
        ir = None if idx is None else idx[r]
        # (1, P): the same batched code path on one run -> the same bits
        L1, G1 = net.loss_and_grad(theta[r:r + 1], X, y, idx=None if ir is None else ir[None])
        np.testing.assert_array_equal(L1, L[r:r + 1])
        np.testing.assert_array_equal(G1, G[r:r + 1])
        # (P,): plain 2-D matmuls; a batched matmul or a reduction over a 3-D
        # array may sum in another order than the 2-D one, so compare to
        # rounding error only.
        L0, G0 = net.loss_and_grad(theta[r], X, y, idx=ir)
        assert L0.shape == () and G0.shape == theta[r].shape
        assert_close(L0, L[r], rtol=1e-12)
        assert_close(G0, G[r], rtol=1e-12)
        assert_close(net.forward(theta[r], X, idx=ir), out[r], rtol=1e-12)
        assert_close(net.loss(theta[r], X, y, idx=ir), L[r], rtol=1e-12)


def test_grouping_of_runs_changes_no_number(monkeypatch):
    """Runs are processed in cache-sized groups; the grouping is invisible."""
    net, X, y, theta = make_problem([2, 32, 32, 3], "tanh", "softmax",
                                    "cross-entropy", n=200, n_runs=13)
    idx = np.random.default_rng(0).integers(0, 200, (13, 50))
    results = []
    for group_bytes in [1, 100_000, 10**12]:  # 1 run, a few runs, all runs
        monkeypatch.setattr(backprop, "_GROUP_BYTES", group_bytes)
        results.append([*net.loss_and_grad(theta, X, y), *net.loss_and_grad(theta, X, y, idx),
                        net.forward(theta, X), net.loss(theta, X, y, idx)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_shared_minibatch_for_all_runs():
    net, X, y, theta = make_problem([3, 8, 1], "relu", "sigmoid", "bce", n=30, n_runs=3)
    idx = np.array([0, 5, 5, 29, 7])
    L, G = net.loss_and_grad(theta, X, y, idx=idx)
    L2, G2 = net.loss_and_grad(theta, X[idx], y[idx])
    np.testing.assert_array_equal(L, L2)
    np.testing.assert_array_equal(G, G2)


# ---------------------------------------------------------------------------
# Large logits: stable losses, no warnings
# ---------------------------------------------------------------------------

def logits(net, theta, X):
    """The last layer's pre-activations: the same net with an identity head."""
    return MLP(net.sizes, hidden=net.hidden, output="identity", loss="mse").forward(theta, X)


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "cross-entropy"),
                                         ("sigmoid", "mse")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["relu", "sigmoid"])
def test_large_logits_are_finite_and_silent(output, loss, dtype, hidden):
    k = 3 if output == "softmax" else 1
    net, X, y, theta = make_problem([2, 16, k], hidden, output, loss, n=50, n_runs=2)
    theta = (theta * 3000.0).astype(dtype)  # logits in the thousands
    z = logits(net, theta, X)
    assert np.abs(z).max() > 800 and (z < -800).any() and (z > 800).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L, G = net.loss_and_grad(theta, X, y)
        L1, G1 = net.loss_and_grad(theta[0], X, y)
        out = net.forward(theta, X)
        pred = net.predict(theta, X)
    assert L.dtype == dtype and G.dtype == dtype
    assert np.isfinite(L).all() and np.isfinite(G).all()
    assert np.isfinite(L1) and np.isfinite(G1).all() and np.isfinite(out).all()
    assert pred.shape == (2, 50)
    z = z.astype(np.float64)
    if loss == "bce":
        # for |z| > 40, log(1 + e^-|z|) is below float64 resolution of |z|:
        # per-sample loss = max(z, 0) - y z
        big = np.abs(z) > 40
        expected = np.where(big, np.maximum(z, 0) - y[:, None] * z, np.nan)
        if big.all():
            assert_close(L, expected.mean(axis=(1, 2)), rtol=1e-5)
    if loss == "cross-entropy":
        # logsumexp(z) - z_y >= 0, and about max(z) - z_y for well separated z
        zy = np.take_along_axis(z, np.broadcast_to(y[None, :, None], (2, 50, 1)), -1)[..., 0]
        gap = z.max(axis=-1) - zy
        assert np.all(L >= 0)
        assert_close(L, gap.mean(axis=1), rtol=1e-2 if dtype == np.float32 else 1e-3)


def test_bce_is_accurate_for_confident_right_predictions():
    # z = 30, y = 1: the loss is log(1 + e^-30) ~ 9.36e-14, which a naive
    # softplus(z) - y z would round to garbage.
    net = MLP([1, 1], hidden="relu", output="sigmoid", loss="bce")
    theta = np.array([30.0, 0.0])
    X = np.array([[1.0], [-1.0]])
    y = np.array([1.0, 0.0])
    assert_close(net.loss(theta, X, y), np.log1p(np.exp(-30.0)), rtol=1e-14)


# ---------------------------------------------------------------------------
# Flat layout and views
# ---------------------------------------------------------------------------

def test_unflatten_layout_and_views():
    sizes = [3, 4, 2]
    net = MLP(sizes)
    rng = np.random.default_rng(0)
    W1, b1, W2, b2 = (rng.normal(size=s) for s in [(3, 4), (4,), (4, 2), (2,)])
    theta = np.concatenate([W1.ravel(), b1, W2.ravel(), b2])  # the documented layout
    assert net.n_params == theta.size == 3 * 4 + 4 + 4 * 2 + 2
    (V1, c1), (V2, c2) = net.unflatten(theta)
    for got, want in [(V1, W1), (c1, b1), (V2, W2), (c2, b2)]:
        np.testing.assert_array_equal(got, want)
        assert np.shares_memory(got, theta)
    V2[1, 0] = 123.0  # writing through a view writes theta
    assert theta[12 + 4 + 1 * 2 + 0] == 123.0
    np.testing.assert_array_equal(net.flatten([(W1, b1), (V2, c2)]), theta)

    # several runs: the same layout row by row
    thetas = np.stack([theta, 2 * theta, -theta])
    layers = net.unflatten(thetas)
    assert [(W.shape, b.shape) for W, b in layers] == [((3, 3, 4), (3, 4)), ((3, 4, 2), (3, 2))]
    for W, b in layers:
        assert np.shares_memory(W, thetas) and np.shares_memory(b, thetas)
    np.testing.assert_array_equal(layers[0][0][1], 2 * W1)
    np.testing.assert_array_equal(layers[1][1][2], -b2)
    np.testing.assert_array_equal(net.flatten(layers), thetas)


def test_gradient_uses_the_same_layout():
    """dL/db of the last layer is the mean residual: find it where DESIGN says."""
    net, X, y, theta = make_problem([3, 5, 1], "tanh", "identity", "mse", n=20)
    _, G = net.loss_and_grad(theta, X, y)
    z = ref_logits([3, 5, 1], "tanh", theta, X)[:, 0]
    assert_close(G[-1], 2 * np.mean(z - y), rtol=1e-12)  # b of the last layer is last
    (gW1, gb1), (gW2, gb2) = net.unflatten(G)
    h = np.tanh(X @ theta[:15].reshape(3, 5) + theta[15:20])
    assert_close(gW2[:, 0], 2 * h.T @ (z - y) / 20, rtol=1e-12)


# ---------------------------------------------------------------------------
# forward, predict, loss, dtypes
# ---------------------------------------------------------------------------

def test_forward_and_predict():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    net = MLP([4, 8, 3], hidden="tanh", output="softmax", loss="cross-entropy")
    theta = net.init_params(rng, n_runs=2)
    p = net.forward(theta, X)
    assert p.shape == (2, 30, 3)
    assert_close(p.sum(axis=-1), np.ones((2, 30)), rtol=1e-14)
    z = np.stack([ref_logits(net.sizes, "tanh", t, X) for t in theta])
    assert_close(p, np.exp(z) / np.exp(z).sum(-1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(net.predict(theta, X), z.argmax(-1))

    net = MLP([4, 8, 1], hidden="relu", output="sigmoid", loss="bce")
    theta = net.init_params(rng)
    z = ref_logits(net.sizes, "relu", theta, X)
    assert_close(net.forward(theta, X), 1 / (1 + np.exp(-z)), rtol=1e-12)
    pred = net.predict(theta, X)
    assert pred.shape == (30,) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, (z[:, 0] > 0).astype(int))

    net = MLP([4, 8, 2], hidden="sigmoid", output="identity", loss="mse")
    theta = net.init_params(rng)
    assert_close(net.predict(theta, X), ref_logits(net.sizes, "sigmoid", theta, X), rtol=1e-12)


def test_float32_is_kept():
    net, X, y, theta = make_problem([3, 8, 1], "tanh", "sigmoid", "bce", n=40, n_runs=2)
    L64, G64 = net.loss_and_grad(theta, X, y)
    L32, G32 = net.loss_and_grad(theta.astype(np.float32), X, y)
    assert L32.dtype == np.float32 and G32.dtype == np.float32
    assert net.forward(theta.astype(np.float32), X).dtype == np.float32
    assert_close(L32, L64, rtol=1e-5)
    assert_close(G32, G64, rtol=1e-4)
    # integer parameters are computed in float64
    L, G = net.loss_and_grad(np.ones(net.n_params, dtype=int), X, y)
    assert G.dtype == np.float64


def test_strided_theta_gives_the_same_gradient():
    """The gradient is one fresh C-ordered array even for a strided theta."""
    net, X, y, theta = make_problem([2, 4, 1], "relu", "sigmoid", "mse", n=10, n_runs=3)
    theta_f = np.asfortranarray(theta)
    L, G = net.loss_and_grad(theta_f, X, y)
    L2, G2 = net.loss_and_grad(theta, X, y)
    np.testing.assert_array_equal(G, G2)
    assert G.flags.c_contiguous


# ---------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------

def test_bad_theta_shape():
    net = MLP([2, 32, 32, 1])
    X, y = np.zeros((5, 2)), np.zeros(5)
    assert net.n_params == 1185
    with pytest.raises(ValueError, match=r"n_params = 1185.*got shape \(1184,\)"):
        net.loss_and_grad(np.zeros(1184), X, y)
    with pytest.raises(ValueError, match=r"n_params = 1185.*got shape \(3, 1186\)"):
        net.loss(np.zeros((3, 1186)), X, y)
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 1185\)"):
        net.forward(np.zeros((2, 2, 1185)), X)


def test_bad_data_shapes():
    net = MLP([2, 8, 1])
    theta = np.zeros(net.n_params)
    wrong_X = r"X must have shape \(n_samples, 2\).*got shape \(5, 3\)"
    with pytest.raises(ValueError, match=wrong_X):
        net.loss_and_grad(theta, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        net.forward(theta, np.zeros(5))
    wrong_y = r"y must have shape \(5, 1\) or \(5,\).*got shape \(4,\)"
    with pytest.raises(ValueError, match=wrong_y):
        net.loss_and_grad(theta, np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"idx must have shape \(B,\)"):
        net.loss_and_grad(theta, np.zeros((5, 2)), np.zeros(5), idx=np.zeros((2, 3), int))
    wrong_idx = r"idx must have shape \(B,\) or \(3, B\).*got shape \(2, 3\)"
    with pytest.raises(ValueError, match=wrong_idx):
        net.loss_and_grad(np.zeros((3, net.n_params)), np.zeros((5, 2)), np.zeros(5),
                          idx=np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="idx must be an integer array"):
        net.loss_and_grad(theta, np.zeros((5, 2)), np.zeros(5), idx=np.zeros(3))

    ce = MLP([2, 8, 3], output="softmax", loss="cross-entropy")
    theta = np.zeros(ce.n_params)
    with pytest.raises(ValueError, match="integer class labels, got dtype float64"):
        ce.loss_and_grad(theta, np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*\[0, 3\]"):
        ce.loss_and_grad(theta, np.zeros((4, 2)), np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*\[-1, 2\]"):
        ce.loss(theta, np.zeros((4, 2)), np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"shape \(4,\), got shape \(4, 3\)"):
        ce.loss(theta, np.zeros((4, 2)), np.zeros((4, 3), int))


@pytest.mark.parametrize("output,loss", [
    ("softmax", "mse"), ("identity", "bce"), ("sigmoid", "cross-entropy"),
    ("identity", "cross-entropy"), ("softmax", "bce"),
])
def test_invalid_combinations(output, loss):
    with pytest.raises(ValueError) as err:
        MLP([2, 4, 3], output=output, loss=loss)
    msg = str(err.value)
    assert f"output={output!r} with loss={loss!r}" in msg
    assert VALID_TEXT in msg


@pytest.mark.parametrize("kwargs,needle", [
    ({"hidden": "gelu"},
     "unknown hidden activation 'gelu'; valid choices: relu, tanh, sigmoid, identity"),
    ({"output": "tanh"},
     "unknown output activation 'tanh'; valid choices: identity, sigmoid, softmax"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; valid choices: mse, bce, cross-entropy"),
    ({"init": "xavier"}, "unknown init scheme 'xavier'; valid choices: glorot, he"),
])
def test_unknown_names(kwargs, needle):
    with pytest.raises(ValueError) as err:
        MLP([2, 4, 1], **kwargs)
    assert needle in str(err.value)


@pytest.mark.parametrize("sizes", [[], [3], [2, 0, 1], [2, 3.5, 1], [2, True]])
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes must list at least two positive integers"):
        MLP(sizes)


def test_softmax_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 output units"):
        MLP([2, 4, 1], output="softmax", loss="cross-entropy")


# ---------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------

def test_glorot_bounds_and_zero_biases():
    net = MLP([20, 300, 50, 1], init="glorot")
    theta = net.init_params(np.random.default_rng(0))
    for (W, b), (d_in, d_out) in zip(net.unflatten(theta), net.shapes):
        limit = np.sqrt(6.0 / (d_in + d_out))
        assert np.all(np.abs(W) <= limit)
        # uniform over the whole interval: the extremes come close to the limit
        assert W.max() > 0.9 * limit and W.min() < -0.9 * limit
        assert_close(W.std(), limit / np.sqrt(3), rtol=0.1)
        np.testing.assert_array_equal(b, 0.0)


def test_he_std():
    net = MLP([200, 300, 300, 10], init="glorot")
    theta = net.init_params(np.random.default_rng(1), scheme="he")
    for (W, b), (d_in, _) in zip(net.unflatten(theta), net.shapes):
        std = np.sqrt(2.0 / d_in)
        # 2000 to 90000 draws: the sample std is within a few percent
        assert abs(W.std() / std - 1) < 0.05
        assert abs(W.mean()) < 0.05 * std
        np.testing.assert_array_equal(b, 0.0)
    # the instance's default scheme is used when none is given
    he_net = MLP([200, 300, 300, 10], init="he")
    np.testing.assert_array_equal(he_net.init_params(np.random.default_rng(1)), theta)


def test_init_is_reproducible_and_run_by_run():
    net = MLP([3, 16, 2], output="softmax", loss="cross-entropy")
    a = net.init_params(np.random.default_rng(42), n_runs=4)
    b = net.init_params(np.random.default_rng(42), n_runs=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, net.n_params) and a.dtype == np.float64
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a, net.init_params(np.random.default_rng(43), n_runs=4))
    # run i is the i-th draw: fewer runs give the leading rows, 1-D gives row 0
    np.testing.assert_array_equal(net.init_params(np.random.default_rng(42), n_runs=2), a[:2])
    np.testing.assert_array_equal(net.init_params(np.random.default_rng(42)), a[0])
    # the generator moves on: the next draw starts where the batch ended
    rng = np.random.default_rng(42)
    first = net.init_params(rng, n_runs=2)
    np.testing.assert_array_equal(np.vstack([first, net.init_params(rng, n_runs=2)]), a)
    # float32 on request
    assert net.init_params(np.random.default_rng(0), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("scheme", ["glorot", "he"])
def test_init_params_per_run(scheme):
    net = MLP([2, 8, 8, 1])
    seeds = [5, 6, 7]
    rows = net.init_params_per_run([np.random.default_rng(s) for s in seeds], scheme=scheme)
    assert rows.shape == (3, net.n_params)
    for i, s in enumerate(seeds):
        np.testing.assert_array_equal(
            rows[i], net.init_params(np.random.default_rng(s), scheme=scheme))
    # row i depends on rngs[i] only
    other = net.init_params_per_run(
        [np.random.default_rng(s) for s in [5, 99, 7]], scheme=scheme)
    np.testing.assert_array_equal(other[[0, 2]], rows[[0, 2]])
    assert not np.array_equal(other[1], rows[1])


def test_pickles():
    """Problems holding a net are sent to worker processes."""
    net, X, y, theta = make_problem([2, 8, 3], "tanh", "softmax", "cross-entropy")
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.loss_and_grad(theta, X, y)[1],
                                  net.loss_and_grad(theta, X, y)[1])


def test_repr_and_attributes():
    net = MLP([2, 32, 32, 1])
    assert net.sizes == (2, 32, 32, 1) and net.n_layers == 3
    assert net.shapes == [(2, 32), (32, 32), (32, 1)]
    assert (net.hidden, net.output, net.loss_name, net.init_scheme) == (
        "relu", "sigmoid", "mse", "glorot")
    assert repr(net) == ("MLP([2, 32, 32, 1], hidden='relu', output='sigmoid', "
                         "loss='mse', init='glorot')")


@pytest.mark.parametrize("output,loss", HEADS)
def test_training_reduces_the_loss(output, loss):
    """Sanity: gradient steps on learnable targets cut the loss of every head."""
    k = 3 if output == "softmax" else 1
    net, X, _, theta = make_problem([2, 16, k], "relu", output, loss, n=64, n_runs=3)
    if output == "softmax":
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    elif output == "identity":
        y = X[:, 0] - 2 * X[:, 1]
    else:
        y = (X[:, 0] + X[:, 1] > 0).astype(float)
    L0 = net.loss(theta, X, y)
    for _ in range(300):
        _, G = net.loss_and_grad(theta, X, y)
        theta -= (0.05 if output == "identity" else 0.5) * G
    assert np.all(net.loss(theta, X, y) < 0.5 * L0)


# ---------------------------------------------------------------------------
# Hessian-vector products: PyTorch's double backward
# ---------------------------------------------------------------------------

def torch_loss(torch, sizes, hidden, output, loss, t, X, y):
    """The network's loss as a torch function of the flat parameters t (the documented layout)."""
    F = torch.nn.functional
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}[hidden]
    h, pos = torch.tensor(X, dtype=torch.float64), 0
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = t[pos:pos + d_in * d_out].view(d_in, d_out)
        b = t[pos + d_in * d_out:pos + (d_in + 1) * d_out]
        pos += (d_in + 1) * d_out
        z = h @ W + b
        h = act(z) if i < len(sizes) - 2 else z
    if output == "softmax":
        return F.cross_entropy(z, torch.tensor(y, dtype=torch.int64))
    ty = torch.tensor(np.asarray(y, dtype=float).reshape(z.shape))
    if output == "identity":
        return F.mse_loss(z, ty)
    if loss == "mse":
        return F.mse_loss(torch.sigmoid(z), ty)
    return F.binary_cross_entropy_with_logits(z, ty)


@pytest.mark.parametrize("sizes,hidden,output,loss", TORCH_NETS)
@pytest.mark.parametrize("minibatch", [False, True])
def test_loss_hvp_matches_torch_double_backward(sizes, hidden, output, loss, minibatch):
    torch = pytest.importorskip("torch")
    n_runs = 3
    net, X, y, theta = make_problem(sizes, hidden, output, loss, n=48, n_runs=n_runs)
    V = np.random.default_rng(5).standard_normal(theta.shape)
    idx = np.random.default_rng(2).integers(0, 48, (n_runs, 12)) if minibatch else None
    H = net.loss_hvp(theta, V, X, y, idx=idx)
    for r in range(n_runs):
        Xr, yr = (X, y) if idx is None else (X[idx[r]], y[idx[r]])
        _, expected = torch.autograd.functional.hvp(
            lambda t: torch_loss(torch, sizes, hidden, output, loss, t, Xr, yr),
            torch.tensor(theta[r]), torch.tensor(V[r]))
        assert_close(H[r], expected.numpy(), rtol=1e-10)
        alone = net.loss_hvp(theta[r], V[r], X, y, idx=None if idx is None else idx[r])
        assert_close(alone, expected.numpy(), rtol=1e-10)


def test_loss_hvp_rejects_a_direction_of_the_wrong_shape():
    net, X, y, theta = make_problem([2, 4, 1], "tanh", "sigmoid", "bce", n=8, n_runs=2)
    with pytest.raises(ValueError, match="V must have the shape of theta"):
        net.loss_hvp(theta, np.zeros((2, 3)), X, y)
