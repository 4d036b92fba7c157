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
