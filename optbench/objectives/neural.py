"""Neural-network problems: small multilayer perceptrons on seeded data sets.

Each problem is a finite sum over a fixed data set ``(A, y)`` with ``n`` samples.
The iterate of a run is the flat parameter vector ``theta`` of an
:class:`optbench.backprop.MLP` (``dim = n_params``: for each layer, W row-major,
then b), and the objective is the network's loss, a mean over samples::

    f(theta) = (1/n) sum_i loss(net_theta(a_i), y_i)

``value(X, batch)`` runs the forward pass only; ``grad`` and ``value_and_grad``
one forward and one backward pass (backprop), for all runs at once. ``batch``,
an integer array ``(n_runs, B)``, gives each run its own minibatch (the mean is
then over those ``B`` samples).

- ``mlp-xor``: the four XOR points, sigmoid output, mean squared error.
- ``mlp-moons``, ``mlp-circles``, ``mlp-spirals``: two classes in the plane,
  sigmoid output with binary cross-entropy (or mean squared error).
- ``mlp-regression``: the house-price data of ``linear-regression``, identity
  output, mean squared error.
- ``mlp-blobs``: several Gaussian clusters, softmax output, cross-entropy.

Hidden widths (``hidden``, one entry per hidden layer) and the hidden activation
are parameters. The optimal value is unknown (``f_opt`` is None; the analysis
measures gaps to the best value found). The classification problems report the
accuracy on the whole data set through ``metrics`` (an extra trace column).

Starting points are the network's own initialisation: biases zero, weights
He-normal (std ``sqrt(2 / fan_in)``) for relu and Glorot-uniform (limit
``sqrt(6 / (fan_in + fan_out))``) for tanh and sigmoid, unless ``init`` says
otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from optbench.backprop import MLP
from optbench.objectives import data
from optbench.problem import Problem, check_batch
from optbench.registry import register_problem
from optbench.errors import did_you_mean
__all__ = [
    "NeuralProblem",
    "MLPXor",
    "MLPMoons",
    "MLPCircles",
    "MLPSpirals",
    "MLPRegression",
    "MLPBlobs",
    "XOR_INPUTS",
    "XOR_TARGETS",
]

Activation = Literal["relu", "tanh", "sigmoid"]
Init = Literal["auto", "glorot", "he"]

#: The four XOR points and their targets, x1 xor x2.
XOR_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_TARGETS = np.array([0, 1, 1, 0], dtype=np.int64)


def _hidden_widths(hidden: Sequence[int]) -> tuple[int, ...]:
    """``hidden`` as a tuple of positive ints, or a clear ValueError."""
    if isinstance(hidden, (int, np.integer)) or not isinstance(hidden, (list, tuple)):
        raise ValueError(f"hidden must be a list of layer widths such as [16] or [16, 16], got {hidden!r}")
    widths = tuple(hidden)
    if not widths or not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(
            f"hidden must list at least one hidden layer width, each a positive integer (e.g. [16] or [16, 16]), "
            f"got {list(widths)!r}"
        )
    return tuple(int(w) for w in widths)


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}, got {value!r}.{did_you_mean(str(value), list(valid))}")
    return value


class NeuralProblem(Problem):
    """Base of the MLP problems: ``f(theta) = mean_i loss(net_theta(a_i), y_i)`` on a fixed data set.

    Subclasses call :meth:`_build` with their data and network shape. ``labels``
    (integer classes) is set for classification problems, which then report
    ``accuracy`` (the fraction of samples classified right, per run) in the trace.
    """

    tags: ClassVar[frozenset[str]] = frozenset({"neural", "finite-sum", "multimodal"})
    f_opt_known: ClassVar = False
    dims: ClassVar = None

    f_opt = None
    x_opt = None
    domain = None
    labels: np.ndarray | None = None
    n_classes: int = 2

    def _build(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        hidden: Sequence[int],
        activation: str,
        output: str,
        loss: str,
        init: str,
        labels: np.ndarray | None,
    ) -> None:
        self.hidden = _hidden_widths(hidden)
        self.activation = _choice("activation", activation, ("relu", "tanh", "sigmoid"))
        self.init = _choice("init", init, ("auto", "glorot", "he"))
        self.inputs = np.ascontiguousarray(inputs, dtype=np.float64)
        self.targets = np.ascontiguousarray(targets)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        n_outputs = self.n_classes if output == "softmax" else 1
        sizes = (self.inputs.shape[1], *self.hidden, n_outputs)
        scheme = ("he" if self.activation == "relu" else "glorot") if self.init == "auto" else self.init
        self.mlp = MLP(sizes, hidden=self.activation, output=output, loss=loss, init=scheme)
        self.dim = self.mlp.n_params
        self.n_samples = self.inputs.shape[0]
        # relu has a kink at 0 (its loss is only piecewise smooth); tanh and sigmoid networks are smooth.
        if self.activation != "relu":
            self.tags = type(self).tags | {"smooth"}

    # -- the finite sum
    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """Loss of each run's network (forward pass only): ``(n_runs, P) -> (n_runs,)``."""
        check_batch(self, X, batch)
        return self.mlp.loss(X, self.inputs, self.targets, idx=batch)

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Loss and its gradient by backprop, one forward and one backward pass for all runs."""
        check_batch(self, X, batch)
        return self.mlp.loss_and_grad(X, self.inputs, self.targets, idx=batch)

    def grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """Gradient of the loss with respect to the flat parameters, ``(n_runs, P)``."""
        return self.value_and_grad(X, batch)[1]

    hvp_exact = True

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """Exact Hessian-vector products by forward-over-reverse differentiation of backprop
        (``MLP.loss_hvp``), on the run's minibatch when ``batch`` is given."""
        check_batch(self, X, batch)
        return self.mlp.loss_hvp(X, V, self.inputs, self.targets, idx=batch)

    def initial_point(self, rng: np.random.Generator, n_runs: int) -> np.ndarray:
        """The network's initialisation (zero biases; He or Glorot weights), drawn from ``rng``, ``(n_runs, P)``."""
        return self.mlp.init_params(rng, n_runs)

    # -- extra trace columns
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class of every sample for every run, ``(n_runs, n_samples)`` (classification only)."""
        return self.mlp.predict(np.asarray(X, dtype=np.float64), self.inputs)

    def accuracy(self, X: np.ndarray) -> np.ndarray:
        """Fraction of the data set that each run's network classifies right, ``(n_runs,)``."""
        if self.labels is None:
            raise ValueError(f"problem {self.name!r} is a regression problem; it has no accuracy")
        return np.mean(self.predict(X) == self.labels, axis=-1)


class _Classification(NeuralProblem):
    """A classification problem: the trace gets an ``accuracy`` column."""

    def metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``{"accuracy": (n_runs,)}`` on the whole data set."""
        return {"accuracy": self.accuracy(X)}


def _binary(problem: NeuralProblem, inputs, labels, hidden, activation, loss, init) -> None:
    """A two-class problem: one sigmoid output unit, targets 0.0 / 1.0, loss bce or mse."""
    loss = _choice("loss", loss, ("bce", "mse"))
    problem.loss = loss
    labels = np.asarray(labels, dtype=np.int64)
    problem._build(inputs, labels.astype(np.float64), hidden, activation, "sigmoid", loss, init, labels)


@register_problem("mlp-xor")
class MLPXor(_Classification):
    """XOR with a small network: inputs ``{0, 1}^2``, target ``x1 xor x2``, one hidden layer, sigmoid output.

    ``f(theta) = (1/4) sum_i (sigmoid(z(a_i)) - y_i)^2`` (mean squared error; ``loss="bce"``
    for binary cross-entropy), with ``z`` the network's last pre-activation. The textbook
    network has 2 hidden units, but from random starts 2 relu units get stuck in a local
    minimum (f = 1/6 or 1/8) most of the time; with the default ``hidden=[8]``, ``gd`` with
    ``constant(lr=1.0)`` and ``adam`` with ``constant(lr=0.05)`` classify all four points
    right after 1000 iterations from 94% of starts (189 and 187 of seeds 0-199; with
    ``hidden=[2]``: 45 and 36, ``hidden=[4]``: 135 and 124).
    """

    def __init__(
        self,
        hidden: list[int] | tuple[int, ...] = (8,),
        activation: Activation = "relu",
        loss: Literal["mse", "bce"] = "mse",
        init: Init = "auto",
    ):
        _binary(self, XOR_INPUTS, XOR_TARGETS, hidden, activation, loss, init)


@register_problem("mlp-moons")
class MLPMoons(_Classification):
    """Two interleaving half moons (``data.moons``), an MLP with a sigmoid output.

    ``f(theta) = (1/n) sum_i bce(z(a_i), y_i)`` with ``bce(z, y) = -[y log p + (1 - y) log(1 - p)]``,
    ``p = sigmoid(z)`` (``loss="mse"``: ``(p - y)^2``).
    """

    def __init__(
        self,
        n_samples: int = 200,
        noise: float = 0.1,
        seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (16,),
        activation: Activation = "relu",
        loss: Literal["bce", "mse"] = "bce",
        init: Init = "auto",
    ):
        self.noise, self.seed = noise, seed
        _binary(self, *data.moons(n_samples, noise, seed), hidden, activation, loss, init)


@register_problem("mlp-circles")
class MLPCircles(_Classification):
    """Two concentric circles (``data.circles``; inner radius ``factor``), an MLP with a sigmoid output.

    ``f(theta) = (1/n) sum_i bce(z(a_i), y_i)`` (``loss="mse"``: ``(sigmoid(z) - y)^2``).
    """

    def __init__(
        self,
        n_samples: int = 200,
        noise: float = 0.05,
        factor: float = 0.5,
        seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (16,),
        activation: Activation = "relu",
        loss: Literal["bce", "mse"] = "bce",
        init: Init = "auto",
    ):
        self.noise, self.factor, self.seed = noise, factor, seed
        _binary(self, *data.circles(n_samples, noise, factor, seed), hidden, activation, loss, init)


@register_problem("mlp-spirals")
class MLPSpirals(_Classification):
    """Two interleaved spirals (``data.spirals``, ``turns`` turns), an MLP with a sigmoid output.

    ``f(theta) = (1/n) sum_i bce(z(a_i), y_i)`` (``loss="mse"``: ``(sigmoid(z) - y)^2``).
    The hardest of the planar sets: the default network has two hidden layers.
    """

    def __init__(
        self,
        n_samples: int = 200,
        noise: float = 0.05,
        turns: float = 1.5,
        seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (16, 16),
        activation: Activation = "relu",
        loss: Literal["bce", "mse"] = "bce",
        init: Init = "auto",
    ):
        self.noise, self.turns, self.seed = noise, turns, seed
        _binary(self, *data.spirals(n_samples, noise, turns, seed), hidden, activation, loss, init)


@register_problem("mlp-regression")
class MLPRegression(NeuralProblem):
    """The house-price data of ``linear-regression`` (``data.house_prices``) fitted by an MLP.

    ``f(theta) = (1/n) sum_i (z(a_i) - y_i)^2``: identity output, mean squared error, the
    same objective as ``linear-regression`` with the linear model replaced by the network.
    """

    def __init__(
        self,
        n_samples: int = 200,
        n_features: int = 4,
        noise: float = 0.5,
        seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (16,),
        activation: Activation = "relu",
        init: Init = "auto",
    ):
        self.n_features, self.noise, self.seed = n_features, noise, seed
        inputs, targets = data.house_prices(n_samples, n_features, noise, seed)
        self._build(inputs, targets, hidden, activation, "identity", "mse", init, None)


@register_problem("mlp-blobs")
class MLPBlobs(_Classification):
    """Gaussian clusters (``data.blobs``), one class each, an MLP with a softmax output.

    ``f(theta) = (1/n) sum_i -log softmax(z(a_i))[y_i]`` (cross-entropy on integer labels),
    ``n_classes`` output units.
    """

    def __init__(
        self,
        n_samples: int = 200,
        n_classes: int = 3,
        n_features: int = 2,
        std: float = 1.0,
        spread: float = 5.0,
        seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (16,),
        activation: Activation = "relu",
        init: Init = "auto",
    ):
        if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2 (softmax needs two classes), got {n_classes!r}")
        self.n_classes, self.n_features, self.std, self.spread, self.seed = int(n_classes), n_features, std, spread, seed
        inputs, labels = data.blobs(n_samples, n_classes, n_features, std, spread, seed)
        self._build(inputs, labels, hidden, activation, "softmax", "cross-entropy", init, labels)
