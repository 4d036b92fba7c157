"""Real data sets: the split, the standardisation, gradients (finite differences, torch autograd), test metrics."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.datasets
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import optbench as ob
from optbench.objectives.datasets import load_split
from optbench.problem import gradient_error


def test_split_is_stratified_80_20_and_standardised_on_train():
    A, y, A_test, y_test = load_split("wine")
    features, labels = sklearn.datasets.load_wine(return_X_y=True)
    assert len(y) + len(y_test) == len(labels) and len(y_test) == int(np.ceil(0.2 * len(labels)))
    np.testing.assert_allclose(np.bincount(y_test) / len(y_test), np.bincount(labels) / len(labels), atol=0.02)
    # independent: scikit-learn's StandardScaler fitted on the same train rows
    train, test, y_train, _ = train_test_split(features, labels, test_size=0.2, random_state=0, stratify=labels)
    scaler = StandardScaler().fit(train)
    np.testing.assert_allclose(A, scaler.transform(train), atol=1e-12)
    np.testing.assert_allclose(A_test, scaler.transform(test), atol=1e-12)
    np.testing.assert_array_equal(y, y_train)
    assert load_split("wine") is load_split("wine")  # computed once


SPECS = [
    ("logistic-regression", {"dataset": "breast-cancer"}),
    ("linear-regression", {"dataset": "diabetes"}),
    ("softmax-regression", {"dataset": "iris", "l2": 0.01}),
    ("mlp-classifier", {"dataset": "wine", "hidden": [8], "activation": "tanh"}),
    ("mlp-regressor", {"hidden": [8], "activation": "tanh"}),
]


def _points(problem, rows=3):
    return 0.3 * np.random.default_rng(2).standard_normal((rows, problem.dim))


@pytest.mark.parametrize("name, params", SPECS)
def test_gradients_match_finite_differences(name, params):
    problem = ob.problems.create(name, **params)
    assert np.all(gradient_error(problem, _points(problem)) < 1e-6)


def _torch_loss(name, problem, theta):
    """The same objective written in torch, from the problem's data."""
    if name in ("logistic-regression", "linear-regression"):
        D, y = torch.tensor(problem.design), torch.tensor(problem.targets)
        z = D @ theta
        return torch.nn.functional.softplus(-y * z).mean() if name == "logistic-regression" else ((z - y) ** 2).mean()
    A = torch.tensor(problem.inputs)
    h, offset = A, 0
    layers = problem.mlp.shapes
    for k, (n_in, n_out) in enumerate(layers):
        W = theta[offset : offset + n_in * n_out].reshape(n_in, n_out)
        b = theta[offset + n_in * n_out : offset + n_in * n_out + n_out]
        offset += n_in * n_out + n_out
        h = h @ W + b
        if k < len(layers) - 1:
            h = torch.tanh(h)
    if name == "mlp-regressor":
        return ((h[:, 0] - torch.tensor(problem.targets)) ** 2).mean()
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(problem.targets, dtype=torch.long))
    return loss + 0.5 * problem.l2 * (theta**2).sum()


@pytest.mark.parametrize("name, params", SPECS)
def test_values_and_gradients_match_torch_autograd(name, params):
    problem = ob.problems.create(name, **params)
    X = _points(problem, 2)
    F, G = problem.value_and_grad(X)
    for row in range(2):
        theta = torch.tensor(X[row], requires_grad=True)
        loss = _torch_loss(name, problem, theta)
        loss.backward()
        assert F[row] == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(G[row], theta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_test_metrics_are_computed_on_the_held_out_split():
    problem = ob.problems.create("logistic-regression", dataset="breast-cancer")
    A, y, A_test, y_test = load_split("breast-cancer")
    X = _points(problem, 2)
    metrics = problem.metrics(X)
    z = A_test @ X[:, :-1].T + X[:, -1]
    np.testing.assert_allclose(metrics["test_accuracy"], np.mean((z > 0) == (y_test[:, None] == 0), axis=0))
    margin = np.where(y_test == 0, 1.0, -1.0)[:, None] * z
    np.testing.assert_allclose(metrics["test_loss"], np.mean(np.logaddexp(0, -margin), axis=0))


def test_softmax_regression_on_digits_with_adam_reaches_90_percent_test_accuracy():
    result = ob.run({"name": "softmax-regression", "dataset": "digits"}, "adam", {"name": "constant", "lr": 0.01},
                    seeds=[0, 1, 2, 3, 4], max_iter=300, batch_size=64)
    trace = result.trace
    final = trace.loc[trace["iteration"] == trace["iteration"].max(), "test_accuracy"]
    assert len(final) == 5 and final.median() >= 0.9


def test_bad_dataset_is_a_one_line_error_with_the_choices():
    with pytest.raises(ob.ParameterError, match="'dataset'.*'iris' \\| 'wine' \\| 'breast-cancer' \\| 'digits', got str 'digit'"):
        ob.problems.create("softmax-regression", dataset="digit")
    with pytest.raises(ob.ParameterError, match="'diabetes'"):
        ob.problems.create("linear-regression", dataset="iris")
