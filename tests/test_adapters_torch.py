"""The torch adapter: any torch.optim.Optimizer class as an optbench method.

Independent truths: optbench's native ``adam`` / ``nesterov`` (themselves tested
against torch.optim in test_methods.py), update rules written out in numpy here,
and torch's own LBFGS driven by a plain closure that counts its calls.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import optbench as ob
from optbench.adapters.elementwise import ELEMENTWISE_TORCH
from optbench.cli import main
from optbench.errors import ParameterError
from optbench.suite import parse_suite

torch = pytest.importorskip("torch")

N_STEPS = 200
SEEDS = 32
ALONE = [0, 7, 19, 31]  # seeds also run alone, compared bit for bit with the batch of 32
_RNG = np.random.default_rng(0)
PROBLEMS = {  # problem, x0 (None: each seed's own start from the problem)
    "rosenbrock": (ob.problems.create("rosenbrock", dim=4),
                   np.array([-1.2, 1.0, -0.5, 0.8]) + 0.1 * _RNG.standard_normal((SEEDS, 4))),
    "quadratic": (ob.problems.create("quadratic"), None),
    "logistic": (ob.problems.create("logistic-regression"), None),
}
# problems whose gradient is a BLAS product over the batch: a row's gradient may differ in the last
# bit between a batch and a single row (DESIGN: "to rounding where a BLAS product sums in another order")
BLAS_GRADIENT = ("quadratic", "logistic")
# Learning rates where 200 steps are not chaotic (see test_methods.py's LR notes); SGD with
# Nesterov momentum diverges on this Rosenbrock start at 0.01, so it runs at 0.001 there.
CASES = {
    "adam": (torch.optim.Adam, {}, {"rosenbrock": 0.01, "quadratic": 0.01, "logistic": 0.01}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, {"rosenbrock": 0.001, "quadratic": 0.01, "logistic": 0.01}),
}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max over runs of ||a_i - b_i|| / ||b_i||."""
    return float(np.max(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))


# ---------------------------------------------------------------- parity with the native methods
@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("native", sorted(CASES))
def test_torch_optimizer_reproduces_native_method(native, problem_name):
    cls, options, rates = CASES[native]
    problem, x0 = PROBLEMS[problem_name]
    lr = rates[problem_name]
    method = ob.methods.from_torch(cls, lr=lr, **options)
    assert method.elementwise  # all 32 runs in one (32, dim) tensor
    ours = ob.run(problem, method, seeds=SEEDS, x0=x0, max_iter=N_STEPS, record="all")
    theirs = ob.run(problem, native, {"name": "constant", "lr": lr}, seeds=SEEDS, x0=x0, max_iter=N_STEPS, record="all")
    start = ob.run(problem, native, {"name": "constant", "lr": lr}, seeds=SEEDS, x0=x0, max_iter=0).x
    assert np.min(np.linalg.norm(theirs.x - start, axis=1)) > 0.1  # the iterates moved
    assert set(ours.runs["status"]) == {"budget"} and (ours.runs["iterations"] == N_STEPS).all()
    assert relative_error(ours.x, theirs.x) <= 1e-12
    f_ours, f_theirs = ours.trace["f"].to_numpy(), theirs.trace["f"].to_numpy()
    assert np.all(np.abs(f_ours - f_theirs) <= 1e-12 * (1.0 + np.abs(f_theirs)))  # f crosses 0 on the quadratic
    np.testing.assert_array_equal(ours.runs["g_evals"], theirs.runs["g_evals"])  # evaluations counted alike
    np.testing.assert_array_equal(ours.hits["iteration"], theirs.hits["iteration"])
    for seed in ALONE:  # a run's numbers do not depend on its batch
        alone = ob.run(problem, method, seeds=[seed], x0=None if x0 is None else x0[seed], max_iter=N_STEPS, record="last")
        if problem_name in BLAS_GRADIENT:  # the problem's own gradient rounds differently in a batch (X @ A)
            assert relative_error(alone.x, ours.x[seed : seed + 1]) <= 1e-13
        else:
            np.testing.assert_array_equal(alone.x[0], ours.x[seed])


def test_suite_file_and_dict_spec_give_the_same_method():
    text = """
name = "t"
seeds = 2
[budget]
max_iter = 5
[[problems]]
name = "quadratic"
[[methods]]
name = "torch"
optimizer = "torch.optim.Adam"
lr = [0.01, 0.1]
betas = [0.8, 0.99]
"""
    suite = parse_suite(text, "t.toml")
    assert [cell.method for cell in suite.cells] == [
        {"name": "torch", "optimizer": "torch.optim.Adam", "lr": lr, "betas": [0.8, 0.99]} for lr in (0.01, 0.1)]
    res = ob.run("quadratic", suite.cells[1].method, seeds=2, max_iter=5)
    native = ob.run("quadratic", {"name": "adam", "betas": (0.8, 0.99)}, {"name": "constant", "lr": 0.1}, seeds=2, max_iter=5)
    assert relative_error(res.x, native.x) <= 1e-12


def test_sweep_over_an_option_equals_the_values_run_one_by_one():
    method = {"name": "torch", "optimizer": "torch.optim.SGD", "lr": 0.01}
    swept = ob.run("quadratic", method, seeds=3, max_iter=30, sweep={"method.momentum": [0.0, 0.5, 0.9]})
    for i, momentum in enumerate([0.0, 0.5, 0.9]):
        alone = ob.run("quadratic", {**method, "momentum": momentum}, seeds=3, max_iter=30)
        np.testing.assert_array_equal(swept.x[3 * i : 3 * i + 3], alone.x)
        native_method = {"name": "momentum", "momentum": momentum} if momentum else "gd"
        native = ob.run("quadratic", native_method, {"name": "constant", "lr": 0.01}, seeds=3, max_iter=30)
        assert relative_error(alone.x, native.x) <= 1e-12


# ---------------------------------------------------------------- per-tensor statistics
class TinyOptimizer(torch.optim.Optimizer):
    """x <- x - delta(g, lr) for every parameter tensor; subclasses give ``delta``."""

    def __init__(self, params, lr: float = 0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(self.delta(p.grad, group["lr"]))


class NormalizedGD(TinyOptimizer):
    """x <- x - lr * g / ||g|| with the norm of the whole tensor (not elementwise)."""

    def delta(self, g, lr):
        return lr * g / g.norm()


class SignGD(TinyOptimizer):
    """x <- x - lr * sign(g) (elementwise, but undeclared: run per run unless told)."""

    def delta(self, g, lr):
        return lr * torch.sign(g)


class DeclaredSignGD(SignGD):
    """SignGD declaring itself elementwise."""

    optbench_elementwise = True


class DeclaredElementwise(NormalizedGD):
    """NormalizedGD wrongly declared elementwise: all runs share one norm."""

    optbench_elementwise = True


def _written_out(problem, X, lr, steps, normalize):
    X = X.copy()
    for _ in range(steps):
        G = problem.grad(X)
        X = X - ((lr * G) / np.linalg.norm(G, axis=1, keepdims=True) if normalize else lr * np.sign(G))
    return X


def test_per_tensor_optimizer_gives_each_run_what_it_gets_alone():
    problem = ob.problems.create("rosenbrock", dim=5)  # a gradient computed row by row: bit-for-bit comparable
    method = ob.methods.from_torch(NormalizedGD, lr=0.05)
    assert not method.elementwise  # not declared: one tensor per run
    res = ob.run(problem, method, seeds=8, max_iter=40, record="last")
    X0 = ob.run(problem, "gd", seeds=8, max_iter=0).x
    np.testing.assert_allclose(res.x, _written_out(problem, X0, 0.05, 40, normalize=True), rtol=1e-10)
    for seed in (0, 5):
        alone = ob.run(problem, method, seeds=[seed], max_iter=40, record="last")
        np.testing.assert_array_equal(alone.x[0], res.x[seed])
    # declared elementwise, the runs share one norm and the batch changes every run's numbers
    for shared_method in (ob.methods.from_torch(DeclaredElementwise, lr=0.05),
                          ob.methods.from_torch(NormalizedGD, lr=0.05, elementwise=True)):
        assert shared_method.elementwise
        shared = ob.run(problem, shared_method, seeds=8, max_iter=40)
        assert relative_error(shared.x, res.x) > 1e-3


def test_only_known_elementwise_optimizers_share_a_tensor():
    assert not ob.methods.from_torch(SignGD, lr=0.01).elementwise  # elementwise in fact, but not declared
    assert ob.methods.from_torch(SignGD, lr=0.01, elementwise=True).elementwise
    assert not ob.methods.from_torch(DeclaredSignGD, lr=0.01, elementwise=False).elementwise  # the user's word wins
    problem = ob.problems.create("rosenbrock", dim=3)
    X0 = ob.run(problem, "gd", seeds=5, max_iter=0).x
    for method in (ob.methods.from_torch(SignGD, lr=0.01), ob.methods.from_torch(DeclaredSignGD, lr=0.01)):
        res = ob.run(problem, method, seeds=5, max_iter=25)
        np.testing.assert_allclose(res.x, _written_out(problem, X0, 0.01, 25, normalize=False), rtol=1e-13)
    assert ob.methods.from_torch(DeclaredSignGD, lr=0.01).elementwise
    assert not ob.methods.from_torch(torch.optim.Adafactor).elementwise  # factored moments of a 2-D tensor
    assert not ob.methods.from_torch(torch.optim.Adam, fused=True).elementwise  # see the test below
    assert ob.methods.from_torch("torch.optim.Adam", elementwise=True).elementwise


@pytest.mark.parametrize("name", ELEMENTWISE_TORCH)
def test_each_declared_torch_class_steps_a_batch_as_its_runs_alone(name):
    """The declared table, verified: the batched run equals the per-run loop, bit for bit; the strong check agrees."""
    cls = getattr(torch.optim, name)
    options = {} if name == "Adadelta" else {"lr": 0.001 if name in ("SGD", "ASGD") else 0.01}
    problem = ob.problems.create("rosenbrock", dim=6)  # row-by-row gradient: comparable bit for bit
    batched = ob.run(problem, ob.methods.from_torch(cls, **options), seeds=6, max_iter=120, record="all")
    per_run = ob.run(problem, ob.methods.from_torch(cls, elementwise=False, **options), seeds=6, max_iter=120, record="all")
    start = ob.run(problem, "gd", seeds=6, max_iter=0).x
    assert np.all(np.linalg.norm(batched.x - start, axis=1) > 1e-3)  # the runs moved
    np.testing.assert_array_equal(batched.x, per_run.x)
    np.testing.assert_array_equal(batched.trace["f"].to_numpy(), per_run.trace["f"].to_numpy())
    check = ob.methods.verify_elementwise(cls, **options)
    assert check.elementwise, str(check)


def test_verify_elementwise_names_what_differs():
    assert ob.methods.verify_elementwise(SignGD, lr=0.01).elementwise
    check = ob.methods.verify_elementwise(NormalizedGD, lr=0.01)
    assert not check.elementwise and "parameter differs" in str(check) and "NormalizedGD" in str(check)
    # torch's fused Adam rounds a coordinate by its place in the SIMD vector (AVX2, AVX-512; not with
    # ATEN_CPU_CAPABILITY=default): not bit for bit, so the adapter runs it per run on every CPU
    fused = ob.methods.verify_elementwise(torch.optim.Adam, lr=0.01, fused=True)
    assert fused.elementwise == (torch.backends.cpu.get_cpu_capability() == "DEFAULT"), str(fused)
    assert "LBFGS" in str(ob.methods.verify_elementwise(torch.optim.LBFGS)) and "closure" in str(ob.methods.verify_elementwise(torch.optim.LBFGS))


# ---------------------------------------------------------------- closures (LBFGS)
def _torch_lbfgs(problem, x0, steps, options):
    """torch's LBFGS driven directly: a closure that evaluates the numpy problem and counts its calls."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([x], **options)
    calls = [0]

    def closure():
        calls[0] += 1
        F, G = problem.value_and_grad(x.detach().numpy()[None])
        x.grad = torch.from_numpy(np.array(G[0]))
        return torch.tensor(F[0], dtype=torch.float64)

    iterates = [x.detach().numpy().copy()]
    for _ in range(steps):
        optimizer.step(closure)
        iterates.append(x.detach().numpy().copy())
    return np.array(iterates), calls[0]


def test_lbfgs_runs_with_a_closure_and_charges_its_evaluations():
    problem = ob.problems.create("rosenbrock", dim=4)
    x0 = PROBLEMS["rosenbrock"][1][:3]
    options = {"lr": 0.5, "max_iter": 5}
    method = ob.methods.from_torch(torch.optim.LBFGS, **options)
    assert method.needs_closure and not method.elementwise
    res = ob.run(problem, method, seeds=3, x0=x0, max_iter=6, record="all")
    for i in range(3):
        iterates, calls = _torch_lbfgs(problem, x0[i], 6, options)
        np.testing.assert_array_equal(res.x[i], iterates[-1])
        # the closure's first call of each step is f(x_k), which the loop evaluated already; x_6 is evaluated once more
        assert res.runs["g_evals"].iloc[i] == calls + 1
        assert res.runs["f_evals"].iloc[i] == 0
        f_trace = res.trace[res.trace["seed"] == i]["f"].to_numpy()
        np.testing.assert_allclose(f_trace, problem.value(iterates), rtol=1e-14)
    assert res.runs["g_evals"].max() > 6 + 1  # closures did evaluate more than once per step
    alone = ob.run(problem, method, seeds=[1], x0=x0[1], max_iter=6)
    np.testing.assert_array_equal(alone.x[0], res.x[1])


def test_lbfgs_stops_at_its_evaluation_budget():
    problem = ob.problems.create("rosenbrock", dim=4)
    method = ob.methods.from_torch(torch.optim.LBFGS, lr=0.5, max_iter=20)
    res = ob.run(problem, method, seeds=4, x0=PROBLEMS["rosenbrock"][1][:4], max_iter=None, max_evals=15)
    assert (res.runs["g_evals"] + res.runs["f_evals"] <= 15).all()
    assert (res.runs["g_evals"] == 15).all() and set(res.runs["status"]) == {"budget"}
    assert np.isfinite(res.runs["f"]).all()


# ---------------------------------------------------------------- statuses
def test_divergence_is_a_status_and_quiet():
    res = ob.run("rosenbrock", ob.methods.from_torch(torch.optim.SGD, lr=0.5), seeds=4, max_iter=200)
    assert set(res.runs["status"]) == {"diverged"}
    assert (res.runs["iterations"] < 200).all()


def test_no_step_rule_and_a_pickle_round_trip():
    with pytest.raises(ParameterError, match="takes no step rule"):
        ob.run("quadratic", {"name": "torch", "optimizer": "torch.optim.Adam"}, "constant")
    method = ob.methods.from_torch(torch.optim.Adam, lr=0.02, betas=(0.8, 0.9))
    copy = pickle.loads(pickle.dumps(method))
    assert repr(copy) == repr(method) == "<method torch(optimizer='torch.optim.Adam', lr=0.02, betas=(0.8, 0.9))>"
    np.testing.assert_array_equal(ob.run("quadratic", copy, max_iter=20).x, ob.run("quadratic", method, max_iter=20).x)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("make, fragments", [
    (lambda: ob.methods.from_torch(torch.nn.Linear), ["'torch.nn.modules.linear.Linear'", "not a torch.optim.Optimizer"]),
    (lambda: ob.methods.from_torch("torch.nn.Linear"), ["'torch.nn.Linear'", "not a torch.optim.Optimizer", "Adam, AdamW"]),
    (lambda: ob.methods.from_torch("torch.optim.Adamm"), ["'torch.optim.Adamm'", "Did you mean 'Adam'?", "Optimizers in 'torch.optim'"]),
    (lambda: ob.methods.from_torch("no_such_package.Lion"), ["'no_such_package.Lion'", "no module 'no_such_package'"]),
    (lambda: ob.methods.from_torch(torch.optim.Adam, lrr=0.1), ["'torch.optim.Adam'", "no option 'lrr'", "Did you mean 'lr'?",
                                                               "Valid options: lr = 0.001, betas: tuple = (0.9, 0.999)"]),
    (lambda: ob.methods.from_torch(torch.optim.Adam, lr=-1.0), ["'torch.optim.Adam'", "Invalid learning rate"]),
    (lambda: ob.methods.create("torch", lr=0.1), ["needs the parameter 'optimizer'"]),
    (lambda: ob.methods.create("torch", optimizer="torch.optim.Adam", elementwise="yes"),
     ["elementwise must be true, false or absent", "'yes'"]),
])
def test_bad_optimizer_or_option_is_a_one_line_error(make, fragments):
    with pytest.raises(ParameterError) as info:
        make()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_cli_rejects_a_bad_option_in_a_suite_with_status_2(tmp_path, capsys):
    text = ('name = "s"\n[budget]\nmax_iter = 3\n[[problems]]\nname = "quadratic"\n'
            '[[methods]]\nname = "torch"\noptimizer = "torch.optim.Adam"\nlrr = 0.1\n')
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optbench: error: s.toml: methods[0]") and err.count("\n") == 1
    assert "no option 'lrr'" in err and "Did you mean 'lr'?" in err and "Traceback" not in err
    assert not out.exists()


def test_list_methods_shows_the_adapter_and_its_usage(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    line = out[out.index("\n  torch "):]
    assert "computes its own steps (no step rule)" in line
    assert 'optimizer = "torch.optim.Adam"' in line and "ob.methods.from_torch(torch.optim.Adam, lr=0.01)" in line


def test_a_torch_optimizers_options_can_be_tuned():
    result = ob.tune({"name": "rosenbrock", "dim": 2}, {"name": "torch", "optimizer": "torch.optim.Adam"},
                     space={"method.lr": {"log_uniform": [1e-3, 0.1]}}, trials=3, seeds=2, eval_seeds=2, max_iter=50)
    assert result.selected["method"] == "torch" and '"lr":' in result.selected["method_params"]
    assert len(result.trials) == 4  # the default and three draws of lr
    assert result.selected["criterion"] == result.trials["criterion"].min()  # the argmin of the tuning criterion
