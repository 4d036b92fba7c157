"""asv: peak memory (and the report's time) of reading, summarising and reporting a synthetic 100,000-run suite
(20 problems x 20 solvers x 250 seeds).

The folder is written once per benchmark run by ``synthetic_results.write_results``
(the store's format, no optimizer runs); ``bench_results_scale.py`` prints the same
measurements with times and the issue's targets.
"""

import tempfile

try:
    from .synthetic_results import write_results
except ImportError:  # run as a plain module
    from synthetic_results import write_results


class MemResults100k:
    timeout = 1800

    def setup_cache(self):
        folder = tempfile.mkdtemp(prefix="optbench-asv-100k-")
        write_results(folder, problems=20, solvers=20, seeds=250)
        return folder

    def peakmem_read(self, folder):
        from optbench.sql import read_prepared

        read_prepared(folder)

    def peakmem_report(self, folder):
        from optbench.report import report

        with tempfile.TemporaryDirectory() as out:
            report(folder, out)

    def peakmem_sql_leaderboard_ecdf(self, folder):
        from optbench import analysis_sql

        analysis_sql.leaderboard(folder)
        analysis_sql.runtime_ecdf(folder)

    def time_report(self, folder):
        from optbench.report import report

        with tempfile.TemporaryDirectory() as out:
            report(folder, out)

    time_report.timeout = 1800
