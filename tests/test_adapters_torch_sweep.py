"""Every optimizer class of pytorch-optimizer 4.1.0 through the torch adapter: a run never depends on its batch.

Independent truth: the same optimizer class run for one seed alone (its own tensor,
its own optimizer). Before optbench checked elementwise-ness by declaration only, a
2-step probe let 10 of these classes share one tensor across seeds (Prodigy's ``d``,
AvaGrad's and SWATS's tensor-wide scalars), and seed 3 of 16 moved by up to 1e-2.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.errors import ParameterError
torch = pytest.importorskip("torch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

CLASSES = {name: value for name, value in vars(pytorch_optimizer).items()
           if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)}

# Classes that cannot run with their defaults on a float64 vector, each with the reason and the
# fragment of the error that shows it (asserted below, so the list cannot hide a class that runs).
CANNOT_BUILD = {  # the adapter refuses the defaults (ParameterError)
    "AdaGO": ("Muon family: takes (name, parameter) pairs, not a list of tensors", "Tensor.__contains__"),
    "AdaMuon": ("Muon family: takes (name, parameter) pairs", "Tensor.__contains__"),
    "Muon": ("Muon family: takes (name, parameter) pairs", "Tensor.__contains__"),
    "MuonClip": ("Muon family: takes (name, parameter) pairs", "Tensor.__contains__"),
    "NorMuon": ("Muon family: takes (name, parameter) pairs", "Tensor.__contains__"),
    "DistributedMuon": ("Muon family: takes (name, parameter) pairs", "Tensor.__contains__"),
    "AdaLOMO": ("takes a torch.nn.Module, not parameters", "named_parameters"),
    "AdamMini": ("takes a torch.nn.Module, not parameters", "named_parameters"),
    "LOMO": ("takes a torch.nn.Module, not parameters", "no attribute 'parameters'"),
    "PCGrad": ("wraps another optimizer", "no attribute 'defaults'"),
    "SafeFP16Optimizer": ("wraps another optimizer", "no attribute 'param_groups'"),
    "Lookahead": ("wraps another optimizer", "need to pass `params`"),
    "OrthoGrad": ("wraps another optimizer", "need to pass `params`"),
    "ScheduleFreeWrapper": ("wraps another optimizer", "need to pass `params`"),
    "TRAC": ("wraps another optimizer", "need to pass `params`"),
    "SAM": ("sharpness-aware: wraps a base optimizer and needs a two-pass closure", "needs option(s) 'base_optimizer'"),
    "FriendlySAM": ("sharpness-aware: wraps a base optimizer", "needs option(s) 'base_optimizer'"),
    "LookSAM": ("sharpness-aware: wraps a base optimizer", "needs option(s) 'base_optimizer'"),
    "GSAM": ("sharpness-aware: wraps a base optimizer and a model", "needs option(s) 'base_optimizer'"),
    "WSAM": ("sharpness-aware: wraps a base optimizer", "needs option(s) 'params', 'base_optimizer'"),
    "BSAM": ("needs the data set size (num_data), no default", "needs option(s) 'num_data'"),
    "Ranger21": ("needs the schedule length (num_iterations), no default", "needs option(s) 'num_iterations'"),
    "DeMo": ("needs the package einops (not a dependency of pytorch-optimizer)", "einops"),
}
CANNOT_STEP = {  # built, but step() refuses a float64 vector (the engine reports the optimizer's error)
    "AliG": ("needs a closure returning the loss but declares it optional (step(closure=None))", "requires closure"),
    "FAdam": ("float32 only: mixes float and double tensors", "expected dtype float"),
    "SpectralSphere": ("2-D parameters only", "only supports 2D parameters"),
}
DO_NOT_MOVE = {  # run, but a vector with the default options stays where it is (the comparison still holds)
    "LoRARite": "updates LoRA factor matrices only",
    "SaRA": "trains only entries below |x| < threshold = 1e-3 at the start",
}
RUNNABLE = sorted(set(CLASSES) - set(CANNOT_BUILD) - set(CANNOT_STEP))
PROBLEM = ob.problems.create("rosenbrock", dim=4)  # gradient computed row by row: a run alone is comparable bit for bit


def test_the_lists_cover_every_class():
    assert len(CLASSES) == 139  # pytorch-optimizer 4.1.0
    assert set(CANNOT_BUILD) | set(CANNOT_STEP) | set(DO_NOT_MOVE) <= set(CLASSES)
    assert len(RUNNABLE) == 139 - len(CANNOT_BUILD) - len(CANNOT_STEP)


@pytest.mark.parametrize("name", sorted(CANNOT_BUILD))
def test_classes_that_cannot_be_built_with_defaults_say_why(name):
    with pytest.raises(ParameterError, match="refused the options|needs option") as info:
        ob.methods.from_torch(CLASSES[name])
    assert CANNOT_BUILD[name][1] in str(info.value)


@pytest.mark.parametrize("name", sorted(CANNOT_STEP))
def test_classes_that_cannot_step_a_float64_vector_say_why(name):
    method = ob.methods.from_torch(CLASSES[name])
    with pytest.raises(Exception, match=CANNOT_STEP[name][1]):
        ob.run(PROBLEM, method, seeds=2, max_iter=3)


@pytest.mark.parametrize("name", RUNNABLE)
def test_seed_in_a_batch_equals_the_seed_alone(name):
    method = ob.methods.from_torch(CLASSES[name])
    # none declares itself: each seed has its own tensor and optimizer (torch.optim's, re-exported, by the table)
    assert method.elementwise == (CLASSES[name] is getattr(torch.optim, name, None) and name != "LBFGS")
    batch = ob.run(PROBLEM, method, seeds=4, max_iter=20)
    alone = ob.run(PROBLEM, method, seeds=[3], max_iter=20)
    np.testing.assert_allclose(alone.x[0], batch.x[3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(alone.runs["f"].iloc[0], batch.runs["f"].iloc[3], rtol=1e-12, atol=1e-12)
    start = ob.run(PROBLEM, "gd", seeds=4, max_iter=0).x
    moved = np.abs(batch.x - start).max()
    if name in DO_NOT_MOVE:
        assert moved == 0.0
    else:  # it moved (some diverge at their default learning rate on Rosenbrock: a status, the same alone)
        assert moved > 0.0 or set(batch.runs["status"]) == {"diverged"}
        assert alone.runs["status"].iloc[0] == batch.runs["status"].iloc[3]


DONE_WHEN = [("Prodigy", {}), ("DAdaptAdam", {}), ("AvaGrad", {}), ("SWATS", {}), ("AdaBelief", {"adanorm": True}),
             ("Lamb", {}), ("Lion", {})]


@pytest.mark.slow
@pytest.mark.parametrize("name, options", DONE_WHEN, ids=[name for name, _ in DONE_WHEN])
def test_tensor_wide_optimizers_seed_3_of_16_equals_seed_3_alone(name, options):
    """The issue's cases: these keep tensor-wide scalars (or are elementwise but undeclared, Lion)."""
    problem = ob.problems.create("rosenbrock", dim=10)
    method = ob.methods.from_torch(CLASSES[name], **options)
    batch = ob.run(problem, method, seeds=16, max_iter=300)
    alone = ob.run(problem, method, seeds=[3], max_iter=300)
    start = ob.run(problem, "gd", seeds=[3], max_iter=0).x[0]
    assert np.abs(alone.x[0] - start).max() > 1e-4  # it moved
    np.testing.assert_allclose(alone.x[0], batch.x[3], rtol=1e-12, atol=1e-12)
    # and the check a class author would run says why these may not share one tensor (Lion: elementwise)
    assert ob.methods.verify_elementwise(CLASSES[name], **options).elementwise == (name == "Lion")


def test_verify_elementwise_names_the_tensor_wide_scalars():
    """Prodigy's D-Adaptation estimate lives in param_groups, LAMB's trust ratio in the state."""
    prodigy = str(ob.methods.verify_elementwise(CLASSES["Prodigy"]))
    assert "NOT elementwise" in prodigy and "param_groups[0]['d']" in prodigy
    lamb = str(ob.methods.verify_elementwise(CLASSES["Lamb"]))
    assert "state['trust_ratio']" in lamb and "parameter differs" in lamb
    assert "a tensor of shape" in str(ob.methods.verify_elementwise(torch.optim.Adafactor))  # factored moments
