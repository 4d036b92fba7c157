"""asv: suites through each executor, and the peak memory of a 500-cell suite."""

import tempfile

import optbench as ob
from optbench.suite import parse_suite

SMALL = """
name = "asv-small"
seeds = 8
[budget]
max_iter = 200
[[problems]]
name = "rosenbrock"
dim = [2, 5]
[[methods]]
name = "gd"
step_rule = [{ name = "constant", lr = [1e-4, 1e-3] }, "armijo"]
[[methods]]
name = "adam"
step_rule = { name = "constant", lr = [1e-3, 1e-2] }
"""

# 10 dims x 50 learning rates = 500 trivial cells
LARGE = """
name = "asv-500"
seeds = 4
[budget]
max_iter = 20
[[problems]]
name = "sphere"
dim = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
[[methods]]
name = "gd"
step_rule = { name = "constant", lr = [%s] }
""" % ", ".join(str(round(0.001 * (i + 1), 3)) for i in range(50))


class TimeSuiteExecutors:
    params = ["serial", "processes", "dask"]
    param_names = ["executor"]
    timeout = 300

    def setup(self, executor):
        self.suite = parse_suite(SMALL)

    def time_small_suite(self, executor):
        with tempfile.TemporaryDirectory() as out:
            ob.run_suite(self.suite, out=out, executor=executor, jobs=2, progress=False)


class MemSuite:
    timeout = 600

    def setup(self):
        self.suite = parse_suite(LARGE)
        assert len(self.suite) == 500

    def peakmem_suite_500_cells(self):
        with tempfile.TemporaryDirectory() as out:
            ob.run_suite(self.suite, out=out, executor="serial", progress=False)


class TimeMatrix:
    """The BenchOpt matrix (benchmarks/matrix.toml, 8 problems x 10 methods x 10 seeds x 1,000 it.): 8 stacks."""

    timeout = 600

    def setup(self):
        from pathlib import Path

        from optbench.suite import load_suite

        self.suite = load_suite(Path(__file__).resolve().parent / "matrix.toml")

    def time_matrix_suite(self):
        with tempfile.TemporaryDirectory() as out:
            ob.run_suite(self.suite, out=out, progress=False)

    def track_matrix_files(self):
        from pathlib import Path

        with tempfile.TemporaryDirectory() as out:
            ob.run_suite(self.suite, out=out, progress=False)
            return sum(1 for path in Path(out).rglob("*") if path.is_file())

    track_matrix_files.unit = "files"


class TimeStartup:
    """A fresh process that imports optbench and loads the matrix suite (the lean run path's start-up)."""

    def timeraw_import_and_load_matrix(self):
        from pathlib import Path

        suite = Path(__file__).resolve().parent / "matrix.toml"
        return f"from optbench.suite import load_suite; load_suite({str(suite)!r})"
