"""Figures and the self-contained HTML report of a result set; and the comparison of two result sets.

    ob.report("results/quick")                 # -> results/quick/index.html
    ob.compare("results/base", "results/new", out="reports/compare")
    from optbench.report import figures
    figures.ecdf_plot(res)                     # a matplotlib Figure, in a notebook

Importing a submodule (``import optbench.report.figures``) makes Python set
``optbench.report`` to this package, over the lazy ``ob.report`` function; so
the package itself is callable and calling it is calling :func:`report`.
"""

import sys
import types

from optbench.report.data import ResultSet, load_results
from optbench.report.html import report

__all__ = ["report", "compare", "load_results", "ResultSet"]


def compare(*args, **kwargs):
    """See :func:`optbench.report.comparison.compare` (imported on first use)."""
    from optbench.report.comparison import compare as _compare

    return _compare(*args, **kwargs)


class _CallableModule(types.ModuleType):
    """``optbench.report(...)`` is ``optbench.report.report(...)``."""

    def __call__(self, *args, **kwargs):
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
