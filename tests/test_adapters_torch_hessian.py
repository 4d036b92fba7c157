"""Hessian-based torch optimizers (pytorch_optimizer's SophiaH, AdaHessian) through the adapter.

Independent truth: each seed run by the optimizer's own documented loop on the
objective written in torch -- ``loss.backward(create_graph=True)``, ``step()`` --
with torch's generator seeded as the adapter documents (stream ``"method"`` of the
problem's key and the run's seed, ``optbench.seeding.stream_seeds``), so both draw
the same Hutchinson vectors. The adapter's Hessian-vector products
come from the problem (here scipy's ``rosen_hess_prod`` and ``A v``), torch's
from double backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen_hess_prod

import optbench as ob
from optbench.engine.cell import problem_key
from optbench.engine.run import run_group
from optbench.seeding import run_generators, stream_seeds

torch = pytest.importorskip("torch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

ROSENBROCK = type(ob.problems.create("rosenbrock", dim=5))
QUADRATIC = type(ob.problems.create("quadratic"))


class RosenbrockWithScipyHvp(ROSENBROCK):
    """Rosenbrock whose Hessian-vector product is scipy's closed form."""

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        return np.stack([rosen_hess_prod(x, v) for x, v in zip(X, V)])


class QuadraticWithHvp(QUADRATIC):
    """The quadratic ``0.5 x.A.x - b.x`` whose Hessian-vector product is ``A v``."""

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        return V @ self.A


def rosenbrock_torch(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1.0) ** 2)


def quadratic_torch(problem):
    A, b = torch.from_numpy(problem.A), torch.from_numpy(problem.b)
    return lambda x: 0.5 * x @ (A @ x) - b @ x


def torch_seed(result, seed):
    """The documented torch seed of ``seed``'s run: stream "method" of the problem's key."""
    return int(stream_seeds("method", problem_key(result.cell), [seed])[0])


def reference(cls, options, f, x0, steps, seed):
    """The optimizer's own loop for one run: autograd gradient with its graph, Hutchinson draws from torch ``seed``."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = cls([x], **options)
    torch.manual_seed(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        f(x).backward(create_graph=True)
        optimizer.step()
    return x.detach().numpy().copy()


CASES = {
    "SophiaH": (pytorch_optimizer.SophiaH, {"lr": 0.01, "update_period": 3}),
    "AdaHessian": (pytorch_optimizer.AdaHessian, {"lr": 0.05}),
    "AdaHessian-gaussian": (pytorch_optimizer.AdaHessian, {"lr": 0.05, "hessian_distribution": "gaussian"}),
}


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("problem_name", ["rosenbrock", "quadratic"])
def test_hessian_optimizer_matches_its_own_autograd_loop(case, problem_name):
    cls, options = CASES[case]
    steps, seeds = 60, 6
    if problem_name == "rosenbrock":
        problem, f = RosenbrockWithScipyHvp(dim=5), rosenbrock_torch
    else:
        problem = QuadraticWithHvp(dim=5, condition=100.0)
        f = quadratic_torch(problem)
    method = ob.methods.from_torch(cls, **options)
    res = ob.run(problem, method, seeds=seeds, max_iter=steps)
    X0 = ob.run(problem, "gd", seeds=seeds, max_iter=0).x
    assert np.abs(res.x - X0).max() > 1e-3  # it moved
    iterations = res.runs["iterations"].to_numpy()  # a run the engine finds diverged stops there
    assert (iterations == steps).sum() >= seeds - 1
    for i in range(seeds):
        np.testing.assert_allclose(res.x[i], reference(cls, options, f, X0[i], iterations[i], torch_seed(res, i)),
                                   rtol=1e-10, atol=1e-10)
    # the Hessian-vector products are charged: one gradient evaluation each (analytic here)
    period = options.get("update_period", 1)
    products = [len(range(0, n, period)) for n in iterations]
    assert (res.runs["g_evals"].to_numpy() == iterations + 1 + np.array(products)).all()
    # the Hutchinson draws do not depend on the batch (the quadratic's gradient X @ A rounds by batch: 1e-12)
    alone = ob.run(problem, method, seeds=[4], max_iter=steps)
    np.testing.assert_allclose(alone.x[0], res.x[4], rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("case", sorted(CASES))
def test_hessian_optimizer_on_the_built_in_problems_own_products(case):
    """The registered rosenbrock and quadratic, with their own analytic hvp: the same as the autograd loop."""
    cls, options = CASES[case]
    for problem in (ob.problems.create("rosenbrock", dim=5), ob.problems.create("quadratic", dim=5, condition=100.0)):
        assert problem.hvp_exact
        f = rosenbrock_torch if problem.name == "rosenbrock" else quadratic_torch(problem)
        res = ob.run(problem, ob.methods.from_torch(cls, **options), seeds=3, max_iter=40)
        X0 = ob.run(problem, "gd", seeds=3, max_iter=0).x
        for i in range(3):
            np.testing.assert_allclose(res.x[i], reference(cls, options, f, X0[i], 40, torch_seed(res, i)), rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
def test_hessian_optimizer_runs_on_central_differences_of_the_gradient():
    """A problem without an analytic product: central differences, charged as two gradient evaluations."""
    class RosenbrockDifferences(ROSENBROCK):
        hvp = ob.Problem.hvp
        hvp_exact = False

    problem = RosenbrockDifferences(dim=5)
    cls, options = CASES["AdaHessian"]
    res = ob.run(problem, ob.methods.from_torch(cls, **options), seeds=3, max_iter=40)
    X0 = ob.run(problem, "gd", seeds=3, max_iter=0).x
    assert (res.runs["g_evals"] == 40 + 1 + 2 * 40).all()
    for i in range(3):  # rounding of the differences (~1e-9 relative) is not amplified over 40 steps
        np.testing.assert_allclose(res.x[i], reference(cls, options, rosenbrock_torch, X0[i], 40, torch_seed(res, i)),
                                   rtol=1e-6)


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("case", sorted(CASES))
def test_hutchinson_vectors_are_seeded_per_run_not_per_start_point(case):
    """Seeds given one ``x0`` draw different vectors (each its own reference loop), and a seed's draws are
    the same alone, in a batch of seeds and in a group run as stacks."""
    cls, options = CASES[case]
    if case == "SophiaH":  # with the default clip p = 0.01 every step is clipped to lr * sign(m): no draw matters
        options = {**options, "p": 1.0}
    problem, steps, seeds = RosenbrockWithScipyHvp(dim=5), 40, [0, 3, 7, 12]
    x0 = np.array([-1.2, 1.0, -0.5, 0.8, 0.3])
    method = ob.methods.from_torch(cls, **options)
    res = ob.run(problem, method, seeds=seeds, x0=x0, max_iter=steps)
    assert np.abs(res.x - x0).max() > 1e-3  # it moved
    assert min(np.abs(res.x[i] - res.x[j]).max() for i in range(4) for j in range(i)) > 1e-6  # no two seeds alike
    for i, seed in enumerate(seeds):
        np.testing.assert_allclose(res.x[i], reference(cls, options, rosenbrock_torch, x0, steps, torch_seed(res, seed)),
                                   rtol=1e-10, atol=1e-10)
    alone = ob.run(problem, method, seeds=[7], x0=x0, max_iter=steps)
    np.testing.assert_allclose(alone.x[0], res.x[2], rtol=0, atol=1e-12)
    spec = {"problem": problem, "seeds": seeds, "x0": x0, "max_iter": steps}
    grouped = run_group([{**spec, "method": "gd", "step_rule": "constant"}, {**spec, "method": method, "step_rule": None}])
    np.testing.assert_allclose(grouped[1].x, res.x, rtol=0, atol=1e-12)


def test_stream_seeds_are_the_run_generators_seed_sequences_as_integers():
    """The first 64-bit word of the SeedSequence behind ``run_generators`` (numpy's own), halved: < 2**63, one per
    seed, a seed's value independent of the others given, different for another stream or key."""
    seeds = [0, 3, 7, 2**62]
    values = stream_seeds("method", "key", seeds)
    expected = [int(g.bit_generator.seed_seq.generate_state(1, np.uint64)[0]) >> 1
                for g in run_generators("method", "key", seeds)]
    assert values.dtype == np.int64 and values.tolist() == expected
    assert len(set(expected)) == 4 and all(0 <= v < 2**63 for v in expected)
    assert stream_seeds("method", "key", [7])[0] == values[2]
    assert stream_seeds("noise", "key", [7])[0] != values[2] and stream_seeds("method", "other", [7])[0] != values[2]
