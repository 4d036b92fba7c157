"""asv: the batched run loop (one ob.run cell) at several batch sizes."""

import pandas  # noqa: F401  (ob.run builds its tables lazily; import pandas here so its import is not timed)

import optbench as ob


class TimeRunCell:
    """One cell of gd + constant on a 10-D quadratic, 1,000 iterations."""

    params = ([1, 16, 64], ["log", "all"])
    param_names = ["seeds", "record"]

    def setup(self, seeds, record):
        self.problem = ob.problems.create("quadratic", dim=10, condition=10.0)

    def time_run(self, seeds, record):
        ob.run(self.problem, "gd", {"name": "constant", "lr": 0.05}, seeds=seeds, max_iter=1000, record=record)

    def time_run_with_tables(self, seeds, record):
        result = ob.run(self.problem, "gd", {"name": "constant", "lr": 0.05}, seeds=seeds, max_iter=1000, record=record)
        result.runs, result.trace

    def peakmem_run(self, seeds, record):
        ob.run(self.problem, "gd", {"name": "constant", "lr": 0.05}, seeds=seeds, max_iter=1000, record=record).trace


class TimeOneSeed:
    """One seed, gd + constant, 10-D quadratic, 1,000 iterations: ob.run and the hand loop it is compared with."""

    def setup(self):
        import numpy as np

        self.problem = ob.problems.create("quadratic", dim=10)
        self.x0 = self.problem.initial_point(np.random.default_rng(0), 1)

    def time_ob_run(self):
        ob.run(self.problem, "gd", {"name": "constant", "lr": 1e-3}, seeds=1, max_iter=1000)

    def time_hand_loop(self):
        X = self.x0
        for _ in range(1000):
            _, G = self.problem.value_and_grad(X)
            X = X - 1e-3 * G


class TimeLineSearchStack:
    """Six cells with Armijo line searches on 10-D Rosenbrock (10 seeds, 1,000 it.): one stack, and one by one."""

    def setup(self):
        self.specs = [{"problem": {"name": "rosenbrock", "dim": 10}, "method": method, "step_rule": "armijo",
                       "seeds": 10, "max_iter": 1000} for method in ("gd", "nesterov", "adam", "sign-gd", "momentum", "adamw")]

    def time_stack(self):
        from optbench.engine.run import run_group

        run_group(self.specs)

    def time_one_by_one(self):
        for spec in self.specs:
            ob.run(**spec)


class TimeSweep:
    """Adam, 20 learning rates x 30 seeds on 10-D Rosenbrock, 1,000 it.: one swept ob.run and the hand loop on
    the same (600, 10) array (issue 25's sweep target, ``bench_sweep.py``)."""

    timeout = 120

    def setup(self):
        try:  # asv imports benchmarks as a package; the scripts put benchmarks/ on the path
            from benchmarks.bench_sweep import sweep_and_hand
        except ImportError:
            from bench_sweep import sweep_and_hand
        _, _, self.swept, self.hand = sweep_and_hand()

    def time_sweep(self):
        self.swept()

    def time_hand_loop(self):
        self.hand()
