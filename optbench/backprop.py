"""Backprop for small multilayer perceptrons, in numpy, batched over runs.

This module is written to be read. It computes the loss of a multilayer
perceptron (MLP) and its gradient with respect to every weight by reverse-mode
differentiation, i.e. the chain rule applied from the loss back to the input.

The network
-----------
A network with ``sizes = [d0, d1, ..., dL]`` has L dense layers. Layer l maps

    z_l = h_{l-1} @ W_l + b_l          W_l: (d_{l-1}, d_l),  b_l: (d_l,)
    h_l = f(z_l)                       f: the hidden activation

with h_0 = X, the input (n samples in rows). The last layer has no hidden
activation: its pre-activation z_L (the "logits") goes to the output activation
(identity, sigmoid or softmax) and to the loss.

Losses are means over samples (and, for mse and bce, over output units):

    mse            L = mean_{i,k} (out_ik - y_ik)^2      (torch mse_loss, "mean")
    bce            L = mean_{i,k} -[y log p + (1 - y) log(1 - p)],  p = sigmoid(z)
    cross-entropy  L = mean_i -log softmax(z_i)[y_i]     (y_i an integer label)

bce and cross-entropy are computed from the logits z, in forms that never
overflow (see ``_sigmoid_bce`` and ``_softmax_cross_entropy``).

The chain rule, layer by layer
------------------------------
Going backwards, we carry dL/dz_l, the gradient of the loss with respect to a
layer's pre-activation (shape like z_l). The loss gives dL/dz_L directly. Then,
for l = L, ..., 1:

    dL/dW_l     = h_{l-1}^T @ dL/dz_l        (sums over the samples)
    dL/db_l     = sum over samples of dL/dz_l
    dL/dh_{l-1} = dL/dz_l @ W_l^T
    dL/dz_{l-1} = dL/dh_{l-1} * f'(z_{l-1})  (elementwise)

f' is written in terms of the activation's output h = f(z), which we keep from
the forward pass: relu' = [h > 0], tanh' = 1 - h^2, sigmoid' = h (1 - h).

Flat parameters, many runs at once
----------------------------------
All weights of one network live in one flat vector ``theta`` of length
``n_params``: for each layer in order, W flattened row-major, then b. Several
networks (one per run: seeds, learning rates, ...) are a 2-D array
``theta`` of shape ``(n_runs, n_params)``, and every formula above is applied to
all of them at once with batched matrix products (``np.matmul`` on stacks of
matrices): z_l then has shape ``(n_runs, n, d_l)``. The input ``X`` (n, d0) and
targets ``y`` are shared by all runs; or each run takes its own minibatch
``X[idx[r]]`` given by an integer array ``idx`` of shape ``(n_runs, B)``.

Example
-------
>>> import numpy as np
>>> net = MLP([2, 16, 1], hidden="tanh", output="sigmoid", loss="bce")
>>> theta = net.init_params(np.random.default_rng(0), n_runs=4)   # (4, 65)
>>> X = np.random.default_rng(1).normal(size=(100, 2)); y = (X[:, 0] > 0) * 1.0
>>> loss, grad = net.loss_and_grad(theta, X, y)                   # (4,), (4, 65)
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit  # sigmoid 1 / (1 + exp(-z)), without overflow

__all__ = [
    "MLP",
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "LOSSES",
    "VALID_COMBINATIONS",
    "INIT_SCHEMES",
]


# ---------------------------------------------------------------------------
# Hidden activations: forward h = f(z) (computed in place, z is a scratch
# array), and backward dL/dz = dL/dh * f'(z), with f' written using h.
# ---------------------------------------------------------------------------


def _relu(z):
    """relu(z) = max(z, 0)."""
    return np.maximum(z, 0, out=z)


def _relu_backward(dh, h):
    """relu'(z) = 1 where z > 0, else 0 (0 at z == 0, like torch) = [h > 0]."""
    dh *= h > 0
    return dh


def _tanh(z):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z)."""
    return np.tanh(z, out=z)


def _tanh_backward(dh, h):
    """tanh'(z) = 1 - tanh(z)^2 = 1 - h^2."""
    dh *= 1 - h * h
    return dh


def _sigmoid(z):
    """sigmoid(z) = 1 / (1 + e^-z)."""
    return expit(z, out=z)


def _sigmoid_backward(dh, h):
    """sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = h (1 - h)."""
    dh *= h * (1 - h)
    return dh


def _identity(z):
    """identity(z) = z."""
    return z


def _identity_backward(dh, h):
    """identity'(z) = 1."""
    return dh


#: name -> (forward, backward) of each hidden activation.
HIDDEN_ACTIVATIONS = {
    "relu": (_relu, _relu_backward),
    "tanh": (_tanh, _tanh_backward),
    "sigmoid": (_sigmoid, _sigmoid_backward),
    "identity": (_identity, _identity_backward),
}


# ---------------------------------------------------------------------------
# Output activations (for `forward` and `predict`) and losses. Each loss takes
# the logits z (n, k) or (n_runs, n, k) and the targets, and returns the loss
# per run, shape () or (n_runs,), and dL/dz, the start of the backward pass.
# ---------------------------------------------------------------------------


def _softmax(z):
    """softmax(z)_k = e^{z_k} / sum_j e^{z_j}, computed as e^{z_k - max z} / ...

    Subtracting the row maximum changes nothing mathematically and keeps every
    exponential in (0, 1], so nothing overflows.
    """
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


#: name -> function from logits z to the network output.
OUTPUT_ACTIVATIONS = {
    "identity": _identity,
    "sigmoid": expit,
    "softmax": _softmax,
}


def _mean_over_samples_and_units(a):
    """Mean over the last two axes (samples, output units): () or (n_runs,)."""
    return a.sum(axis=(-2, -1)) / (a.shape[-2] * a.shape[-1])


def _identity_mse(z, y):
    """L = mean (z - y)^2 over samples and units.

    dL/dz = 2 (z - y) / m, with m = n_samples * n_units.
    """
    r = z - y
    loss = _mean_over_samples_and_units(r * r)
    r *= 2 / (r.shape[-2] * r.shape[-1])
    return loss, r


def _sigmoid_mse(z, y):
    """L = mean (p - y)^2 with p = sigmoid(z).

    dL/dp = 2 (p - y) / m, and by the chain rule
    dL/dz = dL/dp * dp/dz = dL/dp * p (1 - p).
    """
    p = expit(z)
    r = p - y
    loss = _mean_over_samples_and_units(r * r)
    # dL/dp = 2 (p - y) / m
    r *= 2 / (r.shape[-2] * r.shape[-1])
    # dL/dz = dL/dp * p (1 - p)
    r *= p * (1 - p)
    return loss, r


def _sigmoid_bce(z, y):
    """Binary cross-entropy from the logits z, p = sigmoid(z).

    With log p = -softplus(-z) and log(1 - p) = -softplus(z), the per-element
    loss -[y log p + (1 - y) log(1 - p)] is

        (1 - y) z + softplus(-z)  =  (1 - y) z + max(-z, 0) + log(1 + e^-|z|),

    the second form never overflows (e^-|z| <= 1) and, for y in {0, 1}, keeps
    full relative precision when the prediction is right and confident.
    Its derivative is dL/dz = (sigmoid(z) - y) / m, m = n_samples * n_units.
    """
    per_element = (1 - y) * z
    per_element += np.maximum(-z, 0)
    per_element += np.log1p(np.exp(-np.abs(z)))
    loss = _mean_over_samples_and_units(per_element)
    # dL/dz = (p - y) / m
    dz = expit(z)
    dz -= y
    dz /= z.shape[-2] * z.shape[-1]
    return loss, dz


def _softmax_cross_entropy(z, labels):
    """Cross-entropy of softmax(z) against integer labels, from the logits.

    -log softmax(z)_y = logsumexp(z) - z_y, with the log-sum-exp computed as
    m + log(sum_j e^{z_j - m}), m = max_j z_j (no exponential exceeds 1).
    Its derivative is dL/dz = (softmax(z) - onehot(y)) / n.
    """
    n = z.shape[-2]
    onehot = labels[..., None] == np.arange(z.shape[-1])
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=-1, keepdims=True)
    # logsumexp(z) - z_y = (m - z_y) + log(sum e^{z - m}); z_y = sum_k z_k onehot_k
    z_y = np.sum(z * onehot, axis=-1, keepdims=True)
    loss = ((m - z_y) + np.log(s)).sum(axis=(-2, -1)) / n
    # dL/dz = (softmax(z) - onehot) / n
    e /= s
    e -= onehot
    e /= n
    return loss, e


#: (output activation, loss) -> loss function of (logits, targets).
LOSSES = {
    ("sigmoid", "mse"): _sigmoid_mse,
    ("sigmoid", "bce"): _sigmoid_bce,
    ("identity", "mse"): _identity_mse,
    ("softmax", "cross-entropy"): _softmax_cross_entropy,
}

# ---------------------------------------------------------------------------
# Second derivatives, for Hessian-vector products (``MLP.loss_hvp``): each
# hidden activation's f'(z) and f''(z) written with h = f(z), and each loss's
# directional derivative of dL/dz along a change Rz of the logits.
# ---------------------------------------------------------------------------


def _relu_curvature(h):
    """relu' = [h > 0], relu'' = 0 (almost everywhere, like torch)."""
    return (h > 0).astype(h.dtype), np.zeros_like(h)


def _tanh_curvature(h):
    """tanh' = 1 - h^2, tanh'' = -2 h (1 - h^2)."""
    d1 = 1 - h * h
    return d1, -2 * h * d1


def _sigmoid_curvature(h):
    """sigmoid' = h (1 - h), sigmoid'' = h (1 - h) (1 - 2 h)."""
    d1 = h * (1 - h)
    return d1, d1 * (1 - 2 * h)


def _identity_curvature(h):
    """identity' = 1, identity'' = 0."""
    return np.ones_like(h), np.zeros_like(h)


#: name -> function of h giving (f'(z), f''(z)).
ACTIVATION_CURVATURES = {
    "relu": _relu_curvature,
    "tanh": _tanh_curvature,
    "sigmoid": _sigmoid_curvature,
    "identity": _identity_curvature,
}


def _identity_mse_curvature(z, y, rz):
    """R(dL/dz) = 2 Rz / m."""
    return rz * (2 / (z.shape[-2] * z.shape[-1]))


def _sigmoid_mse_curvature(z, y, rz):
    """dL/dz = 2 (p - y) s / m with s = p (1 - p); its derivative is 2 s (s + (p - y)(1 - 2 p)) / m."""
    p = expit(z)
    s = p * (1 - p)
    return rz * 2 * s * (s + (p - y) * (1 - 2 * p)) / (z.shape[-2] * z.shape[-1])


def _sigmoid_bce_curvature(z, y, rz):
    """dL/dz = (p - y) / m; its derivative is p (1 - p) / m."""
    p = expit(z)
    return rz * p * (1 - p) / (z.shape[-2] * z.shape[-1])


def _softmax_cross_entropy_curvature(z, labels, rz):
    """dL/dz = (p - onehot) / n with p = softmax(z); R(dL/dz) = p * (Rz - sum_k p_k Rz_k) / n."""
    p = _softmax(z)
    return p * (rz - np.sum(p * rz, axis=-1, keepdims=True)) / z.shape[-2]


#: (output activation, loss) -> R(dL/dz) of (logits, targets, Rz).
LOSS_CURVATURES = {
    ("sigmoid", "mse"): _sigmoid_mse_curvature,
    ("sigmoid", "bce"): _sigmoid_bce_curvature,
    ("identity", "mse"): _identity_mse_curvature,
    ("softmax", "cross-entropy"): _softmax_cross_entropy_curvature,
}

VALID_COMBINATIONS = tuple(f"{o}+{l}" for o, l in LOSSES)
_LOSS_NAMES = tuple(dict.fromkeys(l for _, l in LOSSES))
INIT_SCHEMES = ("glorot", "he")


def _choice(kind, name, valid):
    if name not in valid:
        raise ValueError(
            f"unknown {kind} {name!r}; valid choices: {', '.join(valid)}"
        )
    return name


def _T(a):
    """Transpose of the last two axes (a matrix or a stack of matrices)."""
    return a.swapaxes(-1, -2)


def _matmul(a, b):
    """a @ b, for matrices or stacks of matrices (batched over runs).

    When the inner dimension is 1 (one output unit, or one input feature),
    a @ b is an outer product, and the broadcast a * b computes the same
    numbers about twice as fast as a BLAS call.
    """
    return a * b if a.shape[-1] == 1 else a @ b


#: Runs of a batch are processed in groups whose activation arrays hold about
#: this many bytes (see ``MLP._groups``): small enough to stay in cache.
_GROUP_BYTES = 2**18


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


class MLP:
    """A multilayer perceptron whose parameters are one flat vector per run.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first and output last, e.g. ``[2, 32, 32, 1]``.
    hidden : {"relu", "tanh", "sigmoid", "identity"}
        Activation after every layer but the last.
    output : {"sigmoid", "identity", "softmax"}
        Output activation, applied to the last layer's logits.
    loss : {"mse", "bce", "cross-entropy"}
        Valid (output, loss) pairs: sigmoid+mse, sigmoid+bce, identity+mse,
        softmax+cross-entropy (integer labels).
    init : {"glorot", "he"}
        Default scheme of :meth:`init_params`.

    Attributes
    ----------
    sizes : tuple of int
    n_layers : int
        Number of dense layers, ``len(sizes) - 1``.
    n_params : int
        Length P of the flat parameter vector.
    shapes : list of (int, int)
        ``(in, out)`` of each layer's weight matrix.
    slices : list of (slice, slice)
        Where each layer's W (row-major) and b sit in the flat vector.
    hidden, output, loss_name, init_scheme : str
        The constructor's choices (the loss is ``loss_name``, because
        :meth:`loss` is a method).

    Shapes
    ------
    ``theta`` is ``(P,)`` for one network or ``(n_runs, P)`` for a batch of
    networks. ``X`` is ``(n, sizes[0])``, shared by all runs. ``y`` is ``(n,)``
    or ``(n, sizes[-1])`` (floats) for mse and bce, ``(n,)`` integer labels in
    ``[0, sizes[-1])`` for cross-entropy. ``idx`` (optional) selects rows of
    X and y: ``(B,)`` for one minibatch (shared by all runs), or
    ``(n_runs, B)`` for one minibatch per run (2-D ``theta`` only).
    Losses come back with shape ``()`` for 1-D theta and ``(n_runs,)`` for
    2-D theta; gradients with the shape and layout of ``theta``.
    Computations run in theta's floating dtype (float64 unless theta is
    float32); X and y are cast to it.
    """

    def __init__(self, sizes, hidden="relu", output="sigmoid", loss="mse",
                 init="glorot"):
        sizes = tuple(sizes)
        if len(sizes) < 2 or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
            for s in sizes
        ):
            raise ValueError(
                "sizes must list at least two positive integers (input and "
                f"output widths), got {list(sizes)!r}"
            )
        self.sizes = tuple(int(s) for s in sizes)
        self.hidden = _choice("hidden activation", hidden, tuple(HIDDEN_ACTIVATIONS))
        self.output = _choice("output activation", output, tuple(OUTPUT_ACTIVATIONS))
        self.loss_name = _choice("loss", loss, _LOSS_NAMES)
        if (output, loss) not in LOSSES:
            raise ValueError(
                f"output={output!r} with loss={loss!r} is not a valid "
                "combination; valid (output+loss) combinations: "
                + ", ".join(VALID_COMBINATIONS)
            )
        if output == "softmax" and self.sizes[-1] < 2:
            raise ValueError(
                "softmax+cross-entropy needs at least 2 output units (classes), "
                f"got sizes[-1] = {self.sizes[-1]}"
            )
        self.init_scheme = _choice("init scheme", init, INIT_SCHEMES)

        self._act, self._act_backward = HIDDEN_ACTIVATIONS[hidden]
        self._out_act = OUTPUT_ACTIVATIONS[output]
        self._loss_fn = LOSSES[(output, loss)]

        # The flat layout: W_1 (row-major), b_1, W_2, b_2, ...
        self.shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.n_layers = len(self.shapes)
        self.slices = []
        start = 0
        for d_in, d_out in self.shapes:
            w = slice(start, start + d_in * d_out)
            b = slice(w.stop, w.stop + d_out)
            self.slices.append((w, b))
            start = b.stop
        self.n_params = start

    def __repr__(self):
        return (
            f"MLP({list(self.sizes)!r}, hidden={self.hidden!r}, "
            f"output={self.output!r}, loss={self.loss_name!r}, "
            f"init={self.init_scheme!r})"
        )

    # -- parameters ---------------------------------------------------------

    def unflatten(self, theta):
        """Per-layer ``[(W, b), ...]`` as views into ``theta`` (no copy).

        For theta of shape (P,): W is (in, out), b is (out,). For theta of
        shape (n_runs, P): W is (n_runs, in, out), b is (n_runs, out).
        Writing into W or b writes into theta. (They are views whenever the
        last axis of theta is contiguous, as in any C-ordered array; otherwise
        numpy has to copy.)
        """
        lead = theta.shape[:-1]
        return [
            (theta[..., w].reshape(*lead, d_in, d_out), theta[..., b])
            for (w, b), (d_in, d_out) in zip(self.slices, self.shapes)
        ]

    def flatten(self, params):
        """Inverse of :meth:`unflatten`: a new flat array from [(W, b), ...]."""
        if len(params) != self.n_layers:
            raise ValueError(
                f"expected {self.n_layers} (W, b) pairs, got {len(params)}"
            )
        pieces = []
        for (W, b), (d_in, d_out) in zip(params, self.shapes):
            W, b = np.asarray(W), np.asarray(b)
            lead = W.shape[:-2]
            if W.shape[-2:] != (d_in, d_out) or b.shape != lead + (d_out,):
                raise ValueError(
                    f"expected W of shape (..., {d_in}, {d_out}) and b of shape "
                    f"(..., {d_out}), got {W.shape} and {b.shape}"
                )
            pieces += [W.reshape(*lead, -1), b]
        return np.concatenate(pieces, axis=-1)

    def _init_one(self, rng, scheme, dtype):
        theta = np.zeros(self.n_params, dtype=dtype)
        for (W, _b), (d_in, d_out) in zip(self.unflatten(theta), self.shapes):
            if scheme == "glorot":
                limit = np.sqrt(6.0 / (d_in + d_out))
                W[...] = rng.uniform(-limit, limit, size=(d_in, d_out))
            else:  # he
                W[...] = rng.normal(0.0, np.sqrt(2.0 / d_in), size=(d_in, d_out))
        return theta

    def init_params(self, rng, n_runs=None, scheme=None, dtype=np.float64):
        """Random initial parameters; biases are zero.

        glorot: W ~ Uniform(-a, a), a = sqrt(6 / (in + out)) (Glorot & Bengio).
        he:     W ~ Normal(0, std^2), std = sqrt(2 / in)       (He et al.).

        ``rng`` is a ``numpy.random.Generator`` (or a seed for one). Without
        ``n_runs`` the result has shape (P,). With ``n_runs`` it is
        (n_runs, P), drawn run after run from the same generator: row 0 is
        what ``init_params(rng)`` would give, row 1 the next draw, and so on,
        so run i depends only on the first i+1 draws of ``rng`` (adding runs
        never changes the earlier ones).
        """
        rng = np.random.default_rng(rng)
        scheme = _choice("init scheme", scheme or self.init_scheme, INIT_SCHEMES)
        if n_runs is None:
            return self._init_one(rng, scheme, dtype)
        return np.stack(
            [self._init_one(rng, scheme, dtype) for _ in range(int(n_runs))]
        ).reshape(int(n_runs), self.n_params)

    def init_params_per_run(self, rngs, scheme=None, dtype=np.float64):
        """(n_runs, P) initial parameters, row i drawn from ``rngs[i]`` alone.

        Row i equals ``init_params(rngs[i])`` for a generator in the same
        state, so each run's start depends only on its own generator.
        """
        scheme = _choice("init scheme", scheme or self.init_scheme, INIT_SCHEMES)
        rows = [self._init_one(np.random.default_rng(r), scheme, dtype) for r in rngs]
        return np.stack(rows).reshape(len(rows), self.n_params)

    # -- input checks ---------------------------------------------------------

    def _check_theta(self, theta):
        theta = np.asarray(theta)
        if theta.dtype.kind != "f":
            theta = theta.astype(np.float64)
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.n_params:
            raise ValueError(
                f"theta must have shape (n_params,) or (n_runs, n_params) with "
                f"n_params = {self.n_params} for sizes {list(self.sizes)}, "
                f"got shape {theta.shape}"
            )
        return theta

    def _check_X(self, X, dtype):
        X = np.asarray(X, dtype=dtype)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"X must have shape (n_samples, {self.sizes[0]}) "
                f"(sizes[0] = {self.sizes[0]} inputs), got shape {X.shape}"
            )
        return X

    def _check_y(self, y, n, dtype):
        y = np.asarray(y)
        k = self.sizes[-1]
        if self.loss_name == "cross-entropy":
            if y.shape != (n,):
                raise ValueError(
                    f"cross-entropy needs integer labels of shape ({n},), "
                    f"got shape {y.shape}"
                )
            if y.dtype.kind not in "iu":
                raise ValueError(
                    "cross-entropy needs integer class labels, got dtype "
                    f"{y.dtype}"
                )
            if n and (y.min() < 0 or y.max() >= k):
                raise ValueError(
                    f"labels must lie in [0, {k}) for {k} output units, got "
                    f"values in [{y.min()}, {y.max()}]"
                )
            return y
        if y.shape == (n,) and k == 1:
            y = y.reshape(n, 1)
        if y.shape != (n, k):
            raise ValueError(
                f"y must have shape ({n}, {k})"
                + (f" or ({n},)" if k == 1 else "")
                + f" for {n} samples and {k} output units, got shape {y.shape}"
            )
        return y.astype(dtype, copy=False)

    def _select(self, theta, X, y, idx):
        """Rows of X (and y) that the runs see: all of them, or X[idx].

        Returns X, y and ``per_run``: True when each run has its own
        minibatch, i.e. X and y carry a leading run axis.
        """
        if idx is None:
            return X, y, False
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise ValueError(f"idx must be an integer array, got dtype {idx.dtype}")
        if not (idx.ndim == 1 or (idx.ndim == 2 and theta.ndim == 2
                                  and idx.shape[0] == theta.shape[0])):
            expected = "(B,)" if theta.ndim == 1 else f"(B,) or ({theta.shape[0]}, B)"
            raise ValueError(
                f"idx must have shape {expected} for theta of shape "
                f"{theta.shape}, got shape {idx.shape}"
            )
        return X[idx], (None if y is None else y[idx]), idx.ndim == 2

    def _prepare(self, theta, X, y, idx):
        theta = self._check_theta(theta)
        X = self._check_X(X, theta.dtype)
        if y is not None:
            y = self._check_y(y, X.shape[0], theta.dtype)
        X, y, per_run = self._select(theta, X, y, idx)
        return theta, X, y, per_run

    def _groups(self, theta, X, y, per_run):
        """Split a batch of runs into groups that fit in the CPU cache.

        Yields ``(rows, X, y)`` for consecutive slices of runs. Each run's
        arithmetic is its own, so grouping changes no number; it only keeps
        each activation array (runs x samples x width) near ``_GROUP_BYTES``:
        a stack of networks that spills out of cache is slower than the same
        networks done a few at a time.
        """
        n_runs = theta.shape[0]
        per_run_bytes = X.shape[-2] * max(self.sizes[1:]) * theta.itemsize
        size = max(1, _GROUP_BYTES // per_run_bytes)
        for start in range(0, n_runs, size):
            rows = slice(start, start + size)
            if per_run:
                yield rows, X[rows], y[rows] if y is not None else None
            else:
                yield rows, X, y

    # -- forward and backward -------------------------------------------------

    def _forward(self, params, h, keep=None):
        """Run the layers on input h; return the last layer's logits z_L.

        If ``keep`` is a list, append each layer's input h_0 = X, h_1, ...,
        h_{L-1} to it (the backward pass needs them).
        """
        for l, (W, b) in enumerate(params):
            if keep is not None:
                keep.append(h)
            # z = h @ W + b   (W: (in, out), or (n_runs, in, out) for many runs)
            z = _matmul(h, W)
            z += b if b.ndim == 1 else b[:, None, :]
            if l == self.n_layers - 1:
                return z
            # h = f(z), in place: z is not needed any more (f' uses h)
            h = self._act(z)

    def _loss_and_grad(self, theta, X, y, grad):
        """Backprop for one run or a group of runs; writes grad, returns loss."""
        params = self.unflatten(theta)

        # Forward pass, keeping each layer's input h_{l-1}.
        hs = []
        z = self._forward(params, X, hs)

        # The loss and dL/dz_L, the gradient at the last layer's logits.
        loss, dz = self._loss_fn(z, y)

        # Backward pass: the chain rule, from the last layer to the first,
        # writing straight into the (W, b) views of the flat gradient.
        grads = self.unflatten(grad)
        for l in reversed(range(self.n_layers)):
            (W, _b), (gW, gb), h = params[l], grads[l], hs[l]
            # dL/dW = h^T @ dL/dz   (one matrix per run; sums over samples)
            np.matmul(_T(h), dz, out=gW)
            # dL/db = sum over samples of dL/dz
            np.sum(dz, axis=-2, out=gb)
            if l > 0:
                # dL/dh = dL/dz @ W^T
                dh = _matmul(dz, _T(W))
                # dL/dz_prev = dL/dh * f'(z_prev)   (f' from h = f(z_prev))
                dz = self._act_backward(dh, h)
        return loss

    def _r_forward(self, params, directions, X):
        """Forward pass and its directional derivative (Pearlmutter's R-operator).

        Rz_l = Rh_{l-1} @ W_l + h_{l-1} @ V_l + Vb_l and Rh_l = f'(z_l) Rz_l, with
        Rh_0 = 0 (the data does not move). Returns the logits z_L, Rz_L and, per
        layer, ``(h_{l-1}, Rh_{l-1}, f'(z_{l-1}), f''(z_{l-1}), Rz_{l-1})`` for the
        backward pass (the activation entries are None for the input layer).
        """
        curvature = ACTIVATION_CURVATURES[self.hidden]
        h, rh, d1, d2, rz_prev, layers = X, None, None, None, None, []
        for l, ((W, b), (VW, Vb)) in enumerate(zip(params, directions)):
            layers.append((h, rh, d1, d2, rz_prev))
            z = _matmul(h, W)
            z += b if b.ndim == 1 else b[:, None, :]
            rz = _matmul(h, VW)
            rz += Vb if Vb.ndim == 1 else Vb[:, None, :]
            if rh is not None:
                rz += _matmul(rh, W)
            if l == self.n_layers - 1:
                return z, rz, layers
            h = self._act(z)
            d1, d2 = curvature(h)
            rh, rz_prev = d1 * rz, rz

    def _hvp(self, theta, V, X, y, out):
        """Hessian-vector product for one run or a group of runs, written into ``out``.

        Reverse pass of the R-operator over backprop: with dz_L = dL/dz_L and
        R(dz_L) from the loss curvature, for l = L, ..., 1:
            R(dL/dW_l) = Rh_{l-1}^T dz_l + h_{l-1}^T R(dz_l),   R(dL/db_l) = sum R(dz_l)
            dh = dz_l W_l^T,   R(dh) = R(dz_l) W_l^T + dz_l V_l^T
            dz_{l-1} = dh f',  R(dz_{l-1}) = R(dh) f' + dh f'' Rz_{l-1}
        """
        params, directions = self.unflatten(theta), self.unflatten(V)
        z, rz, layers = self._r_forward(params, directions, X)
        rdz = LOSS_CURVATURES[(self.output, self.loss_name)](z, y, rz)
        _, dz = self._loss_fn(z, y)
        hv = self.unflatten(out)
        for l in reversed(range(self.n_layers)):
            (W, _b), (VW, _vb), (hW, hb) = params[l], directions[l], hv[l]
            h, rh, d1, d2, rz_prev = layers[l]
            np.matmul(_T(h), rdz, out=hW)
            if rh is not None:
                hW += np.matmul(_T(rh), dz)
            np.sum(rdz, axis=-2, out=hb)
            if l > 0:
                dh = _matmul(dz, _T(W))
                rdh = _matmul(rdz, _T(W)) + _matmul(dz, _T(VW))
                rdz = rdh * d1 + dh * d2 * rz_prev
                dz = dh * d1
        return out

    def loss_hvp(self, theta, V, X, y, idx=None):
        """Hessian-vector products ``H(theta) v`` of the loss, exact (forward-over-reverse).

        ``V`` has the shape and flat layout of ``theta``; so has the result. One
        forward pass carrying directional derivatives and one reverse pass, as for
        the gradient (relu'' is taken as 0, as torch's autograd does).
        """
        theta, X, y, per_run = self._prepare(theta, X, y, idx)
        V = np.asarray(V, dtype=theta.dtype)
        if V.shape != theta.shape:
            raise ValueError(f"V must have the shape of theta, {theta.shape}, got {V.shape}")
        out = np.empty(theta.shape, dtype=theta.dtype)
        if theta.ndim == 1:
            return self._hvp(theta, V, X, y, out)
        for rows, Xg, yg in self._groups(theta, X, y, per_run):
            self._hvp(theta[rows], V[rows], Xg, yg, out[rows])
        return out

    def loss_and_grad(self, theta, X, y, idx=None):
        """Loss and its gradient with respect to theta, by backprop.

        Returns ``(loss, grad)``: loss of shape () for 1-D theta or (n_runs,)
        for 2-D theta, grad with the shape and flat layout of theta.
        """
        theta, X, y, per_run = self._prepare(theta, X, y, idx)
        grad = np.empty(theta.shape, dtype=theta.dtype)
        if theta.ndim == 1:
            return self._loss_and_grad(theta, X, y, grad), grad
        loss = np.empty(theta.shape[0], dtype=theta.dtype)
        for rows, Xg, yg in self._groups(theta, X, y, per_run):
            loss[rows] = self._loss_and_grad(theta[rows], Xg, yg, grad[rows])
        return loss, grad

    def loss(self, theta, X, y, idx=None):
        """Loss only (forward pass): shape () for 1-D theta, (n_runs,) for 2-D."""
        theta, X, y, per_run = self._prepare(theta, X, y, idx)
        if theta.ndim == 1:
            return self._loss_fn(self._forward(self.unflatten(theta), X), y)[0]
        loss = np.empty(theta.shape[0], dtype=theta.dtype)
        for rows, Xg, yg in self._groups(theta, X, y, per_run):
            z = self._forward(self.unflatten(theta[rows]), Xg)
            loss[rows] = self._loss_fn(z, yg)[0]
        return loss

    def forward(self, theta, X, idx=None):
        """Network output: probabilities for sigmoid/softmax, raw for identity.

        Shape (n, out) for 1-D theta, (n_runs, n, out) for 2-D theta (with
        n = B when ``idx`` selects minibatches).
        """
        theta, X, _, per_run = self._prepare(theta, X, None, idx)
        if theta.ndim == 1:
            return self._out_act(self._forward(self.unflatten(theta), X))
        out = np.empty((theta.shape[0], X.shape[-2], self.sizes[-1]), theta.dtype)
        for rows, Xg, _ in self._groups(theta, X, None, per_run):
            out[rows] = self._out_act(self._forward(self.unflatten(theta[rows]), Xg))
        return out

    def predict(self, theta, X):
        """Predictions: class labels for sigmoid (p > 0.5, as int) and
        softmax (argmax), the output itself for identity.

        The unit axis is dropped when there is one output unit (sigmoid and
        identity) and for softmax, so labels have shape (n,) or (n_runs, n).
        """
        out = self.forward(theta, X)
        if self.output == "softmax":
            return out.argmax(axis=-1)
        if self.output == "sigmoid":
            out = (out > 0.5).astype(int)
        return out[..., 0] if self.sizes[-1] == 1 else out
