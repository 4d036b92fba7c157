"""Hessian-based torch optimizers (pytorch_optimizer's SophiaH, AdaHessian) through the adapter.

Independent truth: each seed run by the optimizer's own documented loop on the
objective written in torch -- ``loss.backward(create_graph=True)``, ``step()`` --
with torch's generator seeded as the adapter documents (``stream_seed(x_0)``),
so both draw the same Hutchinson vectors. The adapter's Hessian-vector products
come from the problem (here scipy's ``rosen_hess_prod`` and ``A v``), torch's
from double backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen_hess_prod

import optbench as ob
from optbench.adapters.hessian import stream_seed

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


def reference(cls, options, f, x0, steps):
    """The optimizer's own loop for one seed: autograd gradient with its graph, Hutchinson draws from the seed's stream."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = cls([x], **options)
    torch.manual_seed(stream_seed(x0))
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
    for i in range(seeds):
        np.testing.assert_allclose(res.x[i], reference(cls, options, f, X0[i], steps), rtol=1e-10, atol=1e-10)
    # the Hessian-vector products are charged: one gradient evaluation each (analytic here)
    period = options.get("update_period", 1)
    products = len(range(0, steps, period))
    assert (res.runs["g_evals"] == steps + 1 + products).all()
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
            np.testing.assert_allclose(res.x[i], reference(cls, options, f, X0[i], 40), rtol=1e-10, atol=1e-10)


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
        np.testing.assert_allclose(res.x[i], reference(cls, options, rosenbrock_torch, X0[i], 40), rtol=1e-6)
