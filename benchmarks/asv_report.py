"""asv: analysis and the HTML report on a result set made once per benchmark run."""

import tempfile

import pandas as pd

import optbench as ob
from optbench import analysis
from optbench.report import report


def _results():
    results = []
    for problem in ({"name": "rosenbrock", "dim": 5}, {"name": "quadratic", "dim": 20, "condition": 100.0}):
        for lr in (1e-3, 1e-2, 1e-1):
            for method in ("gd", "adam", "momentum"):
                results.append(ob.run(problem, method, {"name": "constant", "lr": lr}, seeds=10, max_iter=500))
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    trace = pd.concat([r.trace for r in results], ignore_index=True)
    return runs, trace


class TimeReport:
    timeout = 300

    def setup_cache(self):
        return _results()

    def time_leaderboard(self, results):
        analysis.leaderboard(*results)

    def time_ecdf(self, results):
        analysis.runtime_ecdf(*results)

    def time_report(self, results):
        with tempfile.TemporaryDirectory() as out:
            report(results, out)



class MemReportLarge:
    """Peak memory of a report of about 100,000 trace rows (18 cells x 10 seeds x up to 1,001 iterations;
    diverging runs stop early)."""

    timeout = 600

    def setup_cache(self):
        results = []
        for problem in ({"name": "rosenbrock", "dim": 5}, {"name": "quadratic", "dim": 20, "condition": 100.0}):
            for lr in (1e-3, 1e-2, 1e-1):
                for method in ("gd", "adam", "momentum"):
                    results.append(ob.run(problem, method, {"name": "constant", "lr": lr}, seeds=10, max_iter=1000, record="all"))
        return pd.concat([r.runs for r in results], ignore_index=True), pd.concat([r.trace for r in results], ignore_index=True)

    def peakmem_report_large(self, results):
        with tempfile.TemporaryDirectory() as out:
            report(results, out)

    def track_trace_rows(self, results):
        return len(results[1])

    track_trace_rows.unit = "rows"
