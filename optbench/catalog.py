"""The catalogue of built-ins: every built-in problem, method and step rule by name, imported on first use.

``optbench/__init__.py`` imports it once, after the registries exist. Each name is
declared with the place of its class (``Registry.declare``); the module is imported
the first time the name is asked for (``get``, ``create``, ``describe``), and its
own ``register_*`` decorator registers the class. So ``optbench run`` of a suite
imports the modules of the problems it names and no other (bbob, the neural
networks, CUTEst, the data sets and scipy's baselines stay unimported). The
registry itself imports no plugin module (it is a leaf), as in Nevergrad's
``optimizerlib``. A new built-in is added to its module *and* to the table below
(tests/test_registry.py checks that the two agree).
"""

from optbench import adapters  # noqa: F401  (ob.methods.from_torch and verify_elementwise; torch itself on first use)
from optbench.registry import methods, problems, step_rules

__all__ = ["BUILTINS", "declare_builtins"]

_TESTFUNCTIONS = (
    "ackley:Ackley beale:Beale bohachevsky:Bohachevsky booth:Booth branin:Branin dixon-price:DixonPrice "
    "double-well:DoubleWell easom:Easom goldstein-price:GoldsteinPrice griewank:Griewank himmelblau:Himmelblau "
    "levy:Levy matyas:Matyas mccormick:McCormick michalewicz:Michalewicz powell:Powell rastrigin:Rastrigin "
    "rosenbrock:Rosenbrock saddle:Saddle schwefel:Schwefel six-hump-camel:SixHumpCamel sphere:Sphere "
    "styblinski-tang:StyblinskiTang three-hump-camel:ThreeHumpCamel trid:Trid zakharov:Zakharov"
)

# registry kind -> module -> "name:Class ..." (the names the module's decorators register)
BUILTINS: dict[str, dict[str, str]] = {
    "problem": {
        "optbench.objectives.testfunctions": _TESTFUNCTIONS,
        "optbench.objectives.convex": "linear-regression:LinearRegression logistic-regression:LogisticRegression "
                                      "quadratic:Quadratic ridge:Ridge",
        "optbench.objectives.nonsmooth": "hinge-svm:HingeSVM l1:L1 lad-regression:LADRegression lasso:Lasso "
                                         "max-affine:MaxAffine",
        "optbench.objectives.neural": "mlp-blobs:MLPBlobs mlp-circles:MLPCircles mlp-moons:MLPMoons "
                                      "mlp-regression:MLPRegression mlp-spirals:MLPSpirals mlp-xor:MLPXor",
        "optbench.objectives.datasets": "mlp-classifier:MLPClassifier mlp-regressor:MLPRegressor "
                                        "softmax-regression:SoftmaxRegression",
        "optbench.objectives.transforms": "noisy:Noisy perturbed:Perturbed rotated:Rotated scaled:Scaled shifted:Shifted",
        "optbench.objectives.bbob": "bbob:BBOB",  # COCO's bbob suite with gradients
        "optbench.objectives.s2mpj": "s2mpj:S2MPJ",  # CUTEst through S2MPJ; the [cutest] extra to create one
    },
    "method": {
        "optbench.methods": "adadelta:Adadelta adagrad:Adagrad adam:Adam adamax:Adamax adamw:AdamW amsgrad:AMSGrad "
                            "gd:GD lion:Lion momentum:Momentum nadam:NAdam nesterov:Nesterov radam:RAdam "
                            "rmsprop:RMSprop rprop:Rprop sign-gd:SignGD",
        "optbench.baselines": "bfgs:BFGS cg:CG l-bfgs-b:LBFGSB nelder-mead:NelderMead powell:Powell "
                              "scipy-newton-cg:NewtonCG",
        "optbench.newton": "newton-cg:NewtonCG",
        "optbench.adapters.torch": "torch:TorchOptimizer",  # torch itself is imported when an optimizer is built
    },
    "step rule": {
        "optbench.steprules": "armijo:Armijo barzilai-borwein:BarzilaiBorwein constant:Constant cosine:Cosine "
                              "diminishing:Diminishing exact:Exact exponential:Exponential polyak:Polyak "
                              "step:StepDecay wolfe:Wolfe",
    },
}


def declare_builtins() -> None:
    """Declare every built-in of :data:`BUILTINS` in its registry (idempotent)."""
    registries = {"problem": problems, "method": methods, "step rule": step_rules}
    for kind, modules in BUILTINS.items():
        for module, entries in modules.items():
            for entry in entries.split():
                name, _, qualname = entry.partition(":")
                registries[kind].declare(name, f"{module}:{qualname}")


declare_builtins()
