"""Figures and the self-contained HTML report of a result set.

    ob.report("results/quick")                 # -> results/quick/index.html
    from optbench.report import figures
    figures.ecdf_plot(res)                     # a matplotlib Figure, in a notebook
"""

from optbench.report.data import ResultSet, load_results
from optbench.report.html import report

__all__ = ["report", "load_results", "ResultSet"]
