"""asv track_*: solution quality of reference cells, so that a commit that makes an optimizer
*worse* shows in asv as clearly as one that makes it slower. Every cell is seeded: the numbers
change only when the code does."""

import numpy as np

import optbench as ob


def _median_gap(result) -> float:
    return float(np.median(result.runs["f_gap"]))


def track_gap_adam_constant_rosenbrock10():
    """Adam (lr 0.05, 2,000 steps) from starts in [-5, 10]^10: about 11.5 (10-D Rosenbrock has a local minimum near 4)."""
    return _median_gap(ob.run({"name": "rosenbrock", "dim": 10}, "adam", {"name": "constant", "lr": 0.05}, seeds=10, max_iter=2000))


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


def track_ecdf_area_quick_suite():
    """Normalised area under the runtime ECDF (log x axis), averaged over the quick suite's solvers: 1 is perfect."""
    import tempfile

    from optbench import analysis

    with tempfile.TemporaryDirectory() as out:
        results = ob.run_suite("quick", out=out, progress=False)
    ecdf = analysis.runtime_ecdf(results.runs, results.trace, bootstrap=0)
    areas = []
    for _, curve in ecdf.groupby("solver"):
        log_x = np.log10(curve["x"].to_numpy())
        areas.append(np.trapezoid(curve["proportion"].to_numpy(), log_x) / (log_x[-1] - log_x[0]))
    return float(np.mean(areas))


track_ecdf_area_quick_suite.unit = "area (0 to 1)"
track_ecdf_area_quick_suite.timeout = 300
