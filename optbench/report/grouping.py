"""Problems of a large suite in order and in groups: numeric order of parameters, bbob's function groups, dimensions.

- ``natural_key``: a label sorted with its numbers as numbers, so ``dim=2`` comes before ``dim=10``.
- ``problem_groups``: the groups the report draws an ECDF for, as cocopp does: COCO's five bbob
  function groups (separable f1-f5, moderate f6-f9, ill-conditioned f10-f14, multimodal with
  adequate global structure f15-f19, multimodal with weak global structure f20-f24) and each
  dimension, when the suite has more than one of them.
- ``subset``: a prepared result set restricted to some problems, run ids renumbered.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pandas as pd

from optbench.report.data import ResultSet, subset_runs
from optbench.schema import natural_key  # the one label order (the CLI's leaderboard uses it without the report)

__all__ = ["natural_key", "natural_order", "BBOB_GROUPS", "problem_groups", "subset"]

BBOB_GROUPS = {  # COCO's function groups of bbob (Hansen et al. 2009, "Real-parameter black-box optimization benchmarking")
    "separable (f1-f5)": range(1, 6),
    "moderate conditioning (f6-f9)": range(6, 10),
    "ill-conditioned (f10-f14)": range(10, 15),
    "multimodal, adequate structure (f15-f19)": range(15, 20),
    "multimodal, weak structure (f20-f24)": range(20, 25),
}


def natural_order(labels: Iterable[str]) -> list[str]:
    """The distinct ``labels`` in :func:`natural_key` order."""
    return sorted(set(labels), key=natural_key)


def _function(problem: Any, params: Any) -> int | None:
    """The bbob function number of a run's problem, None for other problems."""
    if problem != "bbob":
        return None
    try:
        return int(json.loads(params or "{}").get("function", 1))
    except (TypeError, ValueError):
        return None


def problem_groups(runs: pd.DataFrame) -> dict[str, list[str]]:
    """``{group title: problem labels}`` of a prepared runs table: bbob's function groups, then one group per dimension.

    A kind of grouping is given only when it splits the problems (two groups or
    more); bbob's groups hold only bbob problems.
    """
    first = runs.drop_duplicates("problem_label")
    functions = [_function(p, q) for p, q in zip(first["problem"], first.get("problem_params", [None] * len(first)))]
    out: dict[str, list[str]] = {}
    by_group = {title: [label for label, f in zip(first["problem_label"], functions) if f in numbers]
                for title, numbers in BBOB_GROUPS.items()}
    if sum(bool(labels) for labels in by_group.values()) >= 2:
        out.update({f"bbob {title}": natural_order(labels) for title, labels in by_group.items() if labels})
    dims = sorted(set(first["dim"].astype(int)))
    if len(dims) >= 2:
        for dim in dims:
            out[f"dimension {dim}"] = natural_order(first.loc[first["dim"].astype(int) == dim, "problem_label"])
    return out


def subset(data: ResultSet, problems: Iterable[str]) -> ResultSet:
    """``data`` restricted to ``problems``, run ids renumbered 0..n-1 in trace and hits (as :func:`analysis.prepare` numbers them)."""
    keep = data.runs["problem_label"].isin(set(problems)).to_numpy()
    part = subset_runs(data, keep)
    hits = part.hits if part.hits is not None and len(part.hits) else None  # no hits: None, as prepare_hits gives
    return ResultSet(part.runs, part.trace, data.provenance, data.source, hits=hits)
