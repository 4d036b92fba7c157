"""Real data sets bundled with scikit-learn (no download; extra ``[data]``), and models trained on them.

``load_split(name)`` gives ``(train_features, train_targets, test_features, test_targets)``:

- the sets: ``iris`` (150 x 4, 3 classes), ``wine`` (178 x 13, 3 classes),
  ``breast-cancer`` (569 x 30, 2 classes), ``digits`` (1,797 x 64, 10 classes),
  ``diabetes`` (442 x 10, a regression target);
- a fixed split, 80 % train and 20 % test: scikit-learn's
  ``train_test_split(test_size=0.2, random_state=0, stratify=s)`` with ``s`` the class
  (classification) or the target's quintile (diabetes), so every class keeps its share;
- features standardised with the train split's mean and standard deviation (columns
  with no spread are left centred); the diabetes target likewise.

Problems (f is the mean train loss; the trace gets ``test_loss`` and, for classes,
``test_accuracy`` and the train ``accuracy`` at every recorded iteration):

- ``softmax-regression``: multinomial logistic regression, ``f = (1/n) sum_i -log softmax(W^T a_i + b)[y_i]``
  plus ``(l2/2) ||theta||^2``;
- ``mlp-classifier``: an MLP with a softmax output and cross-entropy;
- ``mlp-regressor``: an MLP with an identity output and mean squared error (diabetes).

``logistic-regression`` and ``linear-regression`` take ``dataset =`` the same names.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from optbench.backprop import MLP
from optbench.errors import ParameterError, did_you_mean
from optbench.objectives.neural import NeuralProblem
from optbench.problem import check_batch
from optbench.registry import register_problem

__all__ = ["DATASETS", "CLASSIFICATION", "load_split", "SoftmaxRegression", "MLPClassifier", "MLPRegressor"]

ClassDataset = Literal["iris", "wine", "breast-cancer", "digits"]
DATASETS = ("iris", "wine", "breast-cancer", "digits", "diabetes")
CLASSIFICATION = ("iris", "wine", "breast-cancer", "digits")
_LOADERS = {"iris": "load_iris", "wine": "load_wine", "breast-cancer": "load_breast_cancer",
            "digits": "load_digits", "diabetes": "load_diabetes"}


def check_dataset(name: object, owner: str, valid: Sequence[str] = DATASETS) -> str:
    """``name`` if it is one of ``valid``, else a one-line ParameterError naming ``owner``'s parameter."""
    if name not in valid:
        raise ParameterError(f"{owner}: parameter 'dataset' must be one of {', '.join(map(repr, valid))}, got "
                             f"{name!r}.{did_you_mean(str(name), list(valid))}")
    return str(name)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


@functools.lru_cache(maxsize=None)
def load_split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised train and test features and targets of data set ``name`` (the documented 80/20 split)."""
    check_dataset(name, "load_split")
    try:
        import sklearn.datasets
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ParameterError(f"dataset {name!r} needs scikit-learn: pip install 'optbench[data]'") from None
    features, targets = getattr(sklearn.datasets, _LOADERS[name])(return_X_y=True)
    features = np.asarray(features, dtype=float)
    if name in CLASSIFICATION:
        strata = targets = np.asarray(targets, dtype=np.int64)
    else:
        targets = np.asarray(targets, dtype=float)
        strata = np.searchsorted(np.quantile(targets, [0.2, 0.4, 0.6, 0.8]), targets)
    A, A_test, y, y_test = train_test_split(features, targets, test_size=0.2, random_state=0, stratify=strata)
    A, A_test = _standardise(A, A_test)
    if name not in CLASSIFICATION:
        y, y_test = _standardise(y[:, None], y_test[:, None])
        y, y_test = y[:, 0], y_test[:, 0]
    return A, y, A_test, y_test


class _DataModel(NeuralProblem):
    """A network (or a linear model: no hidden layer) trained on a data set's train split."""

    tags: ClassVar[frozenset[str]] = frozenset({"neural", "finite-sum", "multimodal"})
    l2: float = 0.0

    def _load(self, dataset: str, hidden: Sequence[int], activation: str, init: str, classify: bool) -> None:
        A, y, A_test, y_test = load_split(dataset)
        self.dataset = dataset
        if not classify:
            self._build(A, y, hidden, activation, "identity", "mse", init, None)
        elif hidden:
            self.n_classes = int(y.max()) + 1
            self._build(A, y, hidden, activation, "softmax", "cross-entropy", init, y)
        else:  # softmax regression: one dense layer
            self.n_classes = int(y.max()) + 1
            self.inputs, self.targets, self.labels = A, y, y
            self.hidden, self.activation, self.init = (), "identity", init
            self.mlp = MLP((A.shape[1], self.n_classes), hidden="identity", output="softmax",
                           loss="cross-entropy", init="glorot" if init == "auto" else init)
            self.dim, self.n_samples = self.mlp.n_params, A.shape[0]
        self.test_inputs, self.test_targets = A_test, y_test

    def _penalty(self, X: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(l2/2) ||theta||^2`` and ``l2 theta`` (0 when l2 = 0)."""
        if not self.l2:
            return 0.0, 0.0
        return 0.5 * self.l2 * np.vecdot(X, X), self.l2 * X

    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return super().value(X, batch) + self._penalty(X)[0]

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        check_batch(self, X, batch)
        F, G = self.mlp.loss_and_grad(X, self.inputs, self.targets, idx=batch)
        P, PG = self._penalty(X)
        return F + P, G + PG

    def metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``test_loss`` (the loss without penalty on the test split); with classes, ``accuracy`` (train) and
        ``test_accuracy``, the fraction of samples whose predicted class is right."""
        X = np.asarray(X, dtype=np.float64)
        out = {"test_loss": self.mlp.loss(X, self.test_inputs, self.test_targets)}
        if self.labels is not None:
            out["accuracy"] = self.accuracy(X)
            out["test_accuracy"] = np.mean(self.mlp.predict(X, self.test_inputs) == self.test_targets, axis=-1)
        return out


def _l2(value: float, owner: str) -> float:
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
        raise ParameterError(f"{owner}: parameter 'l2' must be a finite number >= 0, got {value!r}")
    return float(value)


@register_problem("softmax-regression")
class SoftmaxRegression(_DataModel):
    """Multinomial logistic regression on a real data set's train split.

    ``f(W, b) = (1/n) sum_i -log softmax(W^T a_i + b)[y_i] + (l2/2) (||W||^2 + ||b||^2)``,
    convex; gradient ``(1/n) sum_i a_i (p_i - e_{y_i})^T`` (and ``p_i - e_{y_i}`` for b).
    Parameters: W row-major ``(features, classes)``, then b.
    """

    tags: ClassVar[frozenset[str]] = frozenset({"convex", "smooth", "finite-sum"})

    def __init__(self, dataset: ClassDataset = "digits", l2: float = 0.0):
        check_dataset(dataset, "softmax-regression", CLASSIFICATION)
        self.l2 = _l2(l2, "softmax-regression")
        self._load(dataset, (), "identity", "glorot", classify=True)


@register_problem("mlp-classifier")
class MLPClassifier(_DataModel):
    """An MLP with a softmax output and cross-entropy on a real classification data set's train split."""

    def __init__(self, dataset: ClassDataset = "wine", hidden: list[int] | tuple[int, ...] = (32,),
                 activation: Literal["relu", "tanh", "sigmoid"] = "relu", l2: float = 0.0,
                 init: Literal["auto", "glorot", "he"] = "auto"):
        check_dataset(dataset, "mlp-classifier", CLASSIFICATION)
        self.l2 = _l2(l2, "mlp-classifier")
        self._load(dataset, hidden, activation, init, classify=True)


@register_problem("mlp-regressor")
class MLPRegressor(_DataModel):
    """An MLP with an identity output and mean squared error on the (standardised) diabetes target."""

    def __init__(self, dataset: Literal["diabetes"] = "diabetes", hidden: list[int] | tuple[int, ...] = (32,),
                 activation: Literal["relu", "tanh", "sigmoid"] = "relu", l2: float = 0.0,
                 init: Literal["auto", "glorot", "he"] = "auto"):
        check_dataset(dataset, "mlp-regressor", ("diabetes",))
        self.l2 = _l2(l2, "mlp-regressor")
        self._load(dataset, hidden, activation, init, classify=False)
