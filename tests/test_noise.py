"""Per-run noise streams of the noisy wrapper in runs, and the moments of COCO's bbob-noisy models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optbench as ob

ROSEN = {"name": "rosenbrock", "dim": 5}


@pytest.mark.parametrize("method, rule, kind", [
    ("gd", {"name": "armijo"}, "additive"),     # line searches: rows are evaluated for other runs' trials
    ("momentum", None, "multiplicative"),
    ("bfgs", None, "additive"),                  # a method that owns its loop, run by run
    ("gd", {"name": "armijo"}, "gaussian"),
])
def test_seed_k_alone_equals_seed_k_in_a_batch(method, rule, kind):
    spec = {"name": "noisy", "problem": ROSEN, "std": 0.05, "kind": kind}
    if kind == "gaussian":
        spec["on"] = "value"
    batched = ob.run(spec, method, rule, seeds=[0, 1, 2, 3], max_iter=40)
    for seed in (3, 1):
        alone = ob.run(spec, method, rule, seeds=[seed], max_iter=40)
        np.testing.assert_array_equal(alone.x[0], batched.x[seed])


def test_two_seeds_from_the_same_start_see_different_noise():
    spec = {"name": "noisy", "problem": ROSEN, "std": 0.05}
    result = ob.run(spec, "gd", {"name": "constant", "lr": 1e-3}, seeds=[0, 1], max_iter=20, x0=np.zeros(5))
    clean = ob.run(ROSEN, "gd", {"name": "constant", "lr": 1e-3}, seeds=[0, 1], max_iter=20, x0=np.zeros(5))
    np.testing.assert_array_equal(clean.x[0], clean.x[1])
    assert not np.array_equal(result.x[0], result.x[1])


def _sphere_noise(kind, std, n=20000, scale=1e5, **params):
    """``f~ - f_opt`` and ``f - f_opt`` at n points of a 3-D sphere with f near ``scale``."""
    p = ob.problems.create("noisy", problem={"name": "sphere", "dim": 3}, std=std, kind=kind, on="value", **params)
    X = np.sqrt(scale / 3.0) * (1.0 + 0.1 * np.random.default_rng(1).random((n, 3)))
    return p.value(X) - p.f_opt, p.inner.value(X) - p.f_opt


def test_gaussian_model_is_lognormal_with_sigma_beta():
    noisy, clean = _sphere_noise("gaussian", 0.3)
    log_ratio = np.log((noisy - 1.01e-8) / clean)
    assert stats.kstest(log_ratio / 0.3, "norm").pvalue > 1e-3
    assert abs(log_ratio.mean()) < 4 * 0.3 / np.sqrt(len(log_ratio))


def test_uniform_model_is_u_to_the_beta_above_1e9():
    # for f - f_opt >= 1e9 the second factor max(1, (1e9/f)^(alpha U)) is 1: ratio = U^beta
    noisy, clean = _sphere_noise("uniform", 0.5, scale=2e9)
    ratio = (noisy - 1.01e-8) / clean
    assert stats.kstest(ratio, lambda t: np.clip(t, 0, 1) ** (1 / 0.5)).pvalue > 1e-3
    assert ratio.mean() == pytest.approx(1 / 1.5, abs=4 * 0.24 / np.sqrt(len(ratio)))


def test_uniform_model_inflates_small_values():
    noisy, clean = _sphere_noise("uniform", 0.5, scale=1.0)
    assert np.mean(noisy > clean) > 0.3  # (1e9 / f)^(alpha U) can exceed 1 / U^beta


def test_cauchy_model_adds_cauchy_outliers_with_probability_p():
    noisy, clean = _sphere_noise("cauchy", 0.01, p=0.2)
    outlier = noisy - 1.01e-8 - clean
    hit = outlier > 1e-6 * clean
    share = hit.mean()
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / len(hit))
    assert stats.kstest(outlier[hit] / 0.01 - 1000.0, "cauchy").pvalue > 1e-3


def test_coco_models_need_value_noise_and_f_opt():
    with pytest.raises(ob.ParameterError, match="'kind'"):
        ob.problems.create("noisy", problem="rosenbrock", kind="cauchy")
    with pytest.raises(ob.ParameterError, match="f_opt"):
        ob.problems.create("noisy", problem="mlp-xor", kind="gaussian", on="value")
