"""Neural problems: gradients against central differences and PyTorch, the data sets, batching, XOR training.

Independent truth: central finite differences of ``value`` (``optbench.problem``),
PyTorch networks built from the documented flat layout (W row-major then b, per
layer, ``h @ W + b``) with ``torch.nn.functional`` losses, the data generators of
``optbench.objectives.data``, and each run of a batch run alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.objectives import data
from optbench.errors import ParameterError
NAMES = ["mlp-xor", "mlp-moons", "mlp-circles", "mlp-spirals", "mlp-regression", "mlp-blobs"]
CLASSIFIERS = ["mlp-xor", "mlp-moons", "mlp-circles", "mlp-spirals", "mlp-blobs"]
# Small data sets keep the finite differences quick; the xor set is always its four points.
SMALL = {"mlp-xor": {}, "mlp-moons": {"n_samples": 40}, "mlp-circles": {"n_samples": 40},
         "mlp-spirals": {"n_samples": 40, "hidden": [6, 5]}, "mlp-regression": {"n_samples": 40},
         "mlp-blobs": {"n_samples": 40, "n_classes": 4}}


def create(name, **params):
    return ob.problems.create(name, **{**SMALL[name], **params})


def random_parameters(problem, n_runs, seed=0, scale=0.3):
    """The problem's own initialisation plus a perturbation: biases off zero, so no relu sits on its kink."""
    rng = np.random.default_rng(seed)
    return problem.initial_point(rng, n_runs) + scale * rng.standard_normal((n_runs, problem.dim))


def n_params(sizes):
    return sum((d_in + 1) * d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("n_runs", [1, 3])
def test_gradient_equals_central_differences_full_batch(name, activation, n_runs):
    problem = create(name, activation=activation)
    X = random_parameters(problem, n_runs, seed=n_runs)
    assert ob.gradient_error(problem, X).max() < 1e-6


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_runs", [1, 4])
def test_gradient_equals_central_differences_on_minibatches(name, n_runs):
    problem = create(name, activation="tanh" if name == "mlp-spirals" else "relu")
    rng = np.random.default_rng(7)
    X = random_parameters(problem, n_runs, seed=11)
    batch_size = 3 if name == "mlp-xor" else 8
    batch = np.stack([rng.choice(problem.n_samples, batch_size, replace=False) for _ in range(n_runs)])
    assert ob.gradient_error(problem, X, batch=batch).max() < 1e-6
    # and the minibatch value is the mean over those samples: the full value of a one-sample batch, averaged
    singles = np.stack([problem.value(X, batch[:, [j]]) for j in range(batch_size)], axis=1)
    np.testing.assert_allclose(problem.value(X, batch), singles.mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_binary_losses_have_gradients_equal_to_central_differences(loss):
    problem = create("mlp-moons", loss=loss, hidden=[5, 4], activation="sigmoid")
    X = random_parameters(problem, 2, seed=3)
    assert ob.gradient_error(problem, X).max() < 1e-6


# ---------------------------------------------------------------- against PyTorch
def torch_network(problem, theta):
    """A torch forward pass of one run's parameters, read from the documented flat layout."""
    torch = pytest.importorskip("torch")
    sizes = problem.mlp.sizes
    activation = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[problem.activation]
    weights, position = [], 0
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        W = theta[position : position + d_in * d_out].reshape(d_in, d_out)
        position += d_in * d_out
        weights.append((W, theta[position : position + d_out]))
        position += d_out
    assert position == theta.numel()

    def logits(inputs):
        h = inputs
        for layer, (W, b) in enumerate(weights):
            h = h @ W + b
            if layer < len(weights) - 1:
                h = activation(h)
        return h

    return logits


def torch_loss(problem, logits, rows):
    import torch
    import torch.nn.functional as F

    inputs = torch.tensor(problem.inputs[rows], dtype=torch.float64)
    z = logits(inputs)
    name = ob.registry.spec_of(problem)[0]
    if name == "mlp-blobs":
        return F.cross_entropy(z, torch.tensor(problem.labels[rows]))
    if name == "mlp-regression":
        return F.mse_loss(z[:, 0], torch.tensor(problem.targets[rows]))
    y = torch.tensor(problem.labels[rows], dtype=torch.float64)
    if problem.loss == "bce":
        return F.binary_cross_entropy_with_logits(z[:, 0], y)
    return F.mse_loss(torch.sigmoid(z[:, 0]), y)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("minibatch", [False, True])
def test_value_and_gradient_match_torch_autograd(name, minibatch):
    torch = pytest.importorskip("torch")
    problem = create(name, activation="tanh")
    X = random_parameters(problem, 3, seed=5)
    rng = np.random.default_rng(2)
    batch = np.stack([rng.choice(problem.n_samples, 3, replace=False) for _ in range(3)]) if minibatch else None
    F, G = problem.value_and_grad(X, batch)
    for run in range(3):
        theta = torch.tensor(X[run], dtype=torch.float64, requires_grad=True)
        rows = np.arange(problem.n_samples) if batch is None else batch[run]
        loss = torch_loss(problem, torch_network(problem, theta), rows)
        loss.backward()
        assert F[run] == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(G[run], theta.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_accuracy_metric_matches_torch_predictions(name):
    torch = pytest.importorskip("torch")
    problem = create(name)
    X = random_parameters(problem, 4, seed=9, scale=1.0)
    accuracy = problem.metrics(X)["accuracy"]
    assert accuracy.shape == (4,)
    inputs = torch.tensor(problem.inputs)
    for run in range(4):
        z = torch_network(problem, torch.tensor(X[run]))(inputs)
        predicted = z.argmax(dim=1).numpy() if z.shape[1] > 1 else (z[:, 0] > 0).numpy().astype(int)
        assert accuracy[run] == pytest.approx(np.mean(predicted == problem.labels), abs=1e-15)
    assert ob.problems.create("mlp-regression").metrics(X[:, :0]) == {}


# ---------------------------------------------------------------- data, shapes, parameters
def test_data_sets_come_from_the_seeded_generators():
    xor = ob.problems.create("mlp-xor")
    np.testing.assert_array_equal(xor.inputs, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(xor.labels, [0, 1, 1, 0])
    moons = ob.problems.create("mlp-moons", n_samples=50, noise=0.2, seed=3)
    X, y = data.moons(50, 0.2, 3)
    np.testing.assert_array_equal(moons.inputs, X)
    np.testing.assert_array_equal(moons.labels, y)
    circles = ob.problems.create("mlp-circles", n_samples=60, factor=0.3, seed=1)
    np.testing.assert_array_equal(circles.inputs, data.circles(60, 0.05, 0.3, 1)[0])
    spirals = ob.problems.create("mlp-spirals", turns=2.0)
    np.testing.assert_array_equal(spirals.labels, data.spirals(200, 0.05, 2.0, 0)[1])
    blobs = ob.problems.create("mlp-blobs", n_classes=5, n_features=3)
    np.testing.assert_array_equal(blobs.labels, data.blobs(200, 5, 3, 1.0, 5.0, 0)[1])
    assert blobs.mlp.sizes == (3, 16, 5)
    # mlp-regression fits exactly the data of linear-regression
    linear = ob.problems.create("linear-regression", n_samples=80, n_features=6, seed=4)
    regression = ob.problems.create("mlp-regression", n_samples=80, n_features=6, seed=4)
    np.testing.assert_array_equal(regression.inputs, linear.features)
    np.testing.assert_array_equal(regression.targets, linear.targets)


@pytest.mark.parametrize(
    "name, params, sizes",
    [
        ("mlp-xor", {}, (2, 8, 1)),
        ("mlp-xor", {"hidden": [2]}, (2, 2, 1)),
        ("mlp-moons", {"hidden": [16, 16]}, (2, 16, 16, 1)),
        ("mlp-spirals", {}, (2, 16, 16, 1)),
        ("mlp-regression", {"n_features": 5, "hidden": (7,)}, (5, 7, 1)),
        ("mlp-blobs", {"n_classes": 4}, (2, 16, 4)),
    ],
)
def test_dimension_is_the_number_of_network_parameters(name, params, sizes):
    problem = ob.problems.create(name, **params)
    assert problem.mlp.sizes == sizes
    assert problem.dim == n_params(sizes)
    assert problem.n_samples == (4 if name == "mlp-xor" else 200)
    assert problem.f_opt is None and problem.x_opt is None and problem.domain is None
    assert isinstance(problem.hidden, tuple)


def test_hidden_accepts_lists_and_tuples_as_in_suite_grids():
    from_list = ob.problems.create("mlp-moons", hidden=[16, 16])
    from_tuple = ob.problems.create("mlp-moons", hidden=(16, 16))
    assert from_list.hidden == from_tuple.hidden == (16, 16)
    X = from_list.initial_point(np.random.default_rng(0), 2)
    np.testing.assert_array_equal(from_list.value(X), from_tuple.value(X))


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"hidden": 16}, "expects list[int] | tuple[int, ...]"),
        ({"hidden": []}, "at least one hidden layer"),
        ({"hidden": [16, 0]}, "positive integer"),
        ({"activation": "relux"}, "'relu' | 'tanh' | 'sigmoid'"),
        ({"loss": "cross-entropy"}, "'bce' | 'mse'"),
        ({"init": "xavier"}, "'auto' | 'glorot' | 'he'"),
        ({"n_samples": 1}, "n_samples must be an integer >= 2"),
        ({"hiden": [4]}, "Did you mean 'hidden'"),
    ],
)
def test_bad_parameters_are_clear_errors(params, needle):
    with pytest.raises(ParameterError, match="mlp-moons") as error:
        ob.problems.create("mlp-moons", **params)
    assert needle.replace("Ellipsis", "...") in str(error.value).replace("Ellipsis", "...")


def test_blobs_needs_two_classes():
    with pytest.raises(ParameterError, match="n_classes must be an integer >= 2"):
        ob.problems.create("mlp-blobs", n_classes=1)


def test_bad_batches_are_clear_errors():
    problem = create("mlp-moons")
    X = problem.initial_point(np.random.default_rng(0), 2)
    with pytest.raises(ValueError, match=r"batch must be an integer array of shape \(n_runs, batch_size\)"):
        problem.value(X, np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match=f"X of shape \\(n_runs, {problem.dim}\\)"):
        problem.grad(X[:, :-1])


def test_tags_and_description():
    relu = ob.problems.create("mlp-moons")
    tanh = ob.problems.create("mlp-moons", activation="tanh")
    assert {"neural", "finite-sum", "multimodal"} <= relu.tags and "smooth" not in relu.tags
    assert "smooth" in tanh.tags
    assert relu.tags <= ob.problem.TAGS and tanh.tags <= ob.problem.TAGS
    for name in NAMES:
        info = ob.problems.describe(name)
        assert info["f_opt_known"] is False and info["dims"] is None
        assert {"neural", "finite-sum"} <= set(info["tags"])
    assert ob.problems.describe("mlp-moons")["params"]["hidden"]["default"] == (16,)


def test_initial_point_is_he_for_relu_and_glorot_otherwise():
    relu = ob.problems.create("mlp-regression", n_features=2, hidden=[2000])
    tanh = ob.problems.create("mlp-regression", n_features=2, hidden=[2000], activation="tanh")
    he = relu.initial_point(np.random.default_rng(0), 1)[0]
    glorot = tanh.initial_point(np.random.default_rng(0), 1)[0]
    first, bias = slice(0, 4000), slice(4000, 6000)
    second = slice(6000, 8000)
    assert np.all(he[bias] == 0) and np.all(glorot[bias] == 0) and he[-1] == 0 == glorot[-1]
    # He: normal with std sqrt(2 / fan_in); 4000 and 2000 draws put the sample std within a few percent
    assert np.std(he[first]) == pytest.approx(np.sqrt(2 / 2), rel=0.05)
    assert np.std(he[second]) == pytest.approx(np.sqrt(2 / 2000), rel=0.07)
    # Glorot: uniform on [-a, a], a = sqrt(6 / (fan_in + fan_out))
    limit = np.sqrt(6 / 2002)
    assert np.abs(glorot[first]).max() <= limit and np.abs(glorot[first]).max() > 0.99 * limit
    assert np.std(glorot[first]) == pytest.approx(limit / np.sqrt(3), rel=0.05)
    # init="glorot" overrides the choice for relu
    forced = ob.problems.create("mlp-regression", n_features=2, hidden=[2000], init="glorot")
    assert np.abs(forced.initial_point(np.random.default_rng(0), 1)[0][first]).max() <= limit


# ---------------------------------------------------------------- batches of runs through ob.run
@pytest.mark.parametrize("name", ["mlp-moons", "mlp-blobs", "mlp-regression"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_a_run_in_a_batch_of_eight_is_the_run_alone(name, batch_size):
    problem = {"name": name, "n_samples": 64}
    rule = {"name": "constant", "lr": 0.05}
    together = ob.run(problem, "adam", rule, seeds=8, max_iter=40, batch_size=batch_size, record="all")
    columns = ["f", "grad_norm", "step_size", "f_evals", "g_evals", "epochs"]
    if name != "mlp-regression":
        columns.append("accuracy")
        assert "accuracy" in together.trace
    else:
        assert "accuracy" not in together.trace
    for seed in (0, 5):
        alone = ob.run(problem, "adam", rule, seeds=[seed], max_iter=40, batch_size=batch_size, record="all")
        rows = together.trace[together.trace["seed"] == seed].reset_index(drop=True)
        assert len(rows) == len(alone.trace) == 41
        # Batched matmul over a stack of 8 networks may sum in another order than one network alone,
        # so the numbers agree to 1e-12 relative rather than bit for bit.
        for column in columns:
            np.testing.assert_allclose(rows[column], alone.trace[column], rtol=1e-12, atol=1e-300, err_msg=column)
        np.testing.assert_allclose(together.x[seed], alone.x[0], rtol=1e-12, atol=1e-14)


def test_accuracy_is_recorded_on_the_full_data_set_at_recorded_iterations_only():
    problem = ob.problems.create("mlp-moons", n_samples=64)
    calls = []
    original = type(problem).metrics

    def counting_metrics(X):
        calls.append(X.shape[0])
        return original(problem, X)

    problem.metrics = counting_metrics  # the recorder looks the hook up on the instance
    result = ob.run(problem, "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=100, batch_size=8)
    trace = result.trace
    assert len(calls) == trace["iteration"].nunique() < 100
    last = trace[trace["iteration"] == 100].sort_values("seed")
    np.testing.assert_allclose(last["accuracy"], problem.accuracy(result.x), rtol=0)


# ---------------------------------------------------------------- training
# Measured over seeds 0-199 with the default network (hidden=[8], relu, 1000 iterations):
# gd + constant(lr=1.0) reaches 100% accuracy from 189 starts and adam + constant(lr=0.05)
# from 187 (about 94%; seeds 0-19: 20 and 19). The threshold, 17 of 20 seeds (85%),
# leaves room for rounding differences between machines without letting a broken
# gradient, method or initialisation through (2 hidden units manage 4 of these 20 seeds).
XOR_SEEDS = 20
XOR_THRESHOLD = 17


@pytest.mark.parametrize("method, lr", [("gd", 1.0), ("adam", 0.05)])
def test_gd_and_adam_solve_xor_from_most_seeds(method, lr):
    result = ob.run("mlp-xor", method, {"name": "constant", "lr": lr}, seeds=XOR_SEEDS, max_iter=1000)
    accuracy = ob.problems.create("mlp-xor").accuracy(result.x)
    solved = int(np.sum(accuracy == 1.0))
    assert solved >= XOR_THRESHOLD, f"{method} solved xor from {solved} of {XOR_SEEDS} seeds"
    final = result.trace.groupby("seed")["accuracy"].last().to_numpy()
    np.testing.assert_array_equal(final, accuracy)
    assert np.median(result.f) < 1e-2  # the solved runs have driven the squared error down, not just crossed 0.5


def test_mlp_regression_fits_as_well_as_the_linear_model_it_extends():
    # The same data and loss as linear-regression, whose optimum (lstsq) is about the noise variance 0.25:
    # 16 tanh units trained by adam get below it (0.13-0.18 measured, by also fitting some of the noise).
    linear = ob.problems.create("linear-regression")
    result = ob.run({"name": "mlp-regression", "activation": "tanh"}, "adam", {"name": "constant", "lr": 0.03},
                    seeds=4, max_iter=1500, record="last")
    assert np.all(result.f < linear.f_opt)
