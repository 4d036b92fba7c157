"""asv track_*: solution quality of reference cells, so that a commit that makes an optimizer
*worse* shows in asv as clearly as one that makes it slower. Every cell is seeded: the numbers
change only when the code does."""

import numpy as np

import optbench as ob


def _median_gap(result) -> float:
    return float(np.median(result.runs["f_gap"]))


def track_gap_adam_constant_rosenbrock10():
    return _median_gap(ob.run({"name": "rosenbrock", "dim": 10}, "adam", {"name": "constant", "lr": 0.01}, seeds=10, max_iter=2000))


track_gap_adam_constant_rosenbrock10.unit = "f - f_opt (median of 10 seeds)"


def track_gap_gd_armijo_quadratic_cond1e3():
    problem = {"name": "quadratic", "dim": 50, "condition": 1e3}
    return _median_gap(ob.run(problem, "gd", {"name": "armijo", "lr": 1.0}, seeds=10, max_iter=500))


track_gap_gd_armijo_quadratic_cond1e3.unit = "f - f_opt (median of 10 seeds)"


def track_gap_subgradient_polyak_lasso():
    return _median_gap(ob.run("lasso", "gd", "polyak", seeds=10, max_iter=1000))


track_gap_subgradient_polyak_lasso.unit = "f - f_opt (median of 10 seeds)"


def track_evals_lbfgsb_rosenbrock10_to_1e_8():
    result = ob.run({"name": "rosenbrock", "dim": 10}, "l-bfgs-b", seeds=10, max_evals=5000, tol={"f_gap": 1e-8})
    evals = result.runs["f_evals"] + result.runs["g_evals"]
    return float(np.median(np.where(result.runs["status"] == "converged", evals, np.inf)))


track_evals_lbfgsb_rosenbrock10_to_1e_8.unit = "evaluations (median of 10 seeds)"


def track_evals_nesterov_quadratic_to_1e_6():
    problem = {"name": "quadratic", "dim": 50, "condition": 100.0}
    result = ob.run(problem, "nesterov", {"name": "constant", "lr": 0.005}, seeds=10, max_iter=5000, tol={"f_gap": 1e-6})
    evals = result.runs["f_evals"] + result.runs["g_evals"]
    return float(np.median(np.where(result.runs["status"] == "converged", evals, np.inf)))


track_evals_nesterov_quadratic_to_1e_6.unit = "evaluations (median of 10 seeds)"
