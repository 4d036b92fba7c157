"""``RunResult``: what ``ob.run`` returns (in the spirit of ``scipy.optimize.OptimizeResult``).

``x``: final iterates ``(n_runs, dim)``; ``runs``, ``trace``, ``hits``: the three
tables (``optbench.schema`` defines their columns), built from the loop's
arrays on first access (the columns too); ``cell``: the description of the first cell, ``cells``:
every cell of the result (a sweep has one cell per configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from optbench import schema as tables
from optbench.schema import CellTables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunResult"]


class RunResult:
    """The runs of one ``ob.run`` call: final iterates and the runs, trace and hits tables."""

    def __init__(self, x: np.ndarray, descriptions: Sequence[dict[str, Any]], run_config: np.ndarray, seeds: np.ndarray,
                 f_opt: float | None, out: dict[str, Any] | None = None, trace: dict[str, np.ndarray] | None = None,
                 hits: dict[str, np.ndarray] | None = None, columns: dict[str, dict] | None = None):
        self.x = x
        self.cells = list(descriptions)
        self.cell = self.cells[0]
        self._sources = (run_config, seeds, f_opt, out, trace, hits)  # trace, hits: columns, or what builds them
        self._built = columns
        self._frames: dict[str, Any] = {}

    @property
    def _columns(self) -> dict[str, dict[str, np.ndarray]]:
        """The three tables' columns, built from the loop's arrays on first use (``trace`` and ``hits`` may be
        given as functions that return their columns)."""
        if self._built is None:
            run_config, seeds, f_opt, out, trace, hits = self._sources
            self._built = _columns(run_config, seeds, f_opt, out, trace() if callable(trace) else trace,
                                   hits() if callable(hits) else hits)
            self._sources = None
        return self._built

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its columns built (the functions that build them hold the loop's recorder)."""
        self._columns
        return self.__dict__

    # ------------------------------------------------------------ tables
    def _frame(self, table: str) -> "pd.DataFrame":
        if table not in self._frames:
            columns = dict(self._columns[table])
            config = columns.pop("_config")
            self._frames[table] = tables.build(table, self.cells, config, columns)
        return self._frames[table]

    @property
    def runs(self) -> "pd.DataFrame":
        """One row per run: its cell's keys and parameters, seed, status, final f and gap, counters, time."""
        return self._frame("runs")

    @property
    def trace(self) -> "pd.DataFrame":
        """One row per run per recorded iteration."""
        return self._frame("trace")

    @property
    def hits(self) -> "pd.DataFrame":
        """One row per run per target met: the exact first iteration, evaluations, epochs and time."""
        return self._frame("hits")

    def tables(self) -> CellTables:
        return CellTables(self.runs, self.trace, self.hits)

    def arrow_tables(self) -> CellTables:
        """The three tables as ``pyarrow.Table`` objects, built without pandas (what a suite's worker stores)."""
        built = []
        for table in ("runs", "trace", "hits"):
            columns = dict(self._columns[table])
            config = columns.pop("_config")
            built.append(tables.arrow_table(table, self.cells, config, columns))
        return CellTables(*built)

    @property
    def status(self) -> list[str]:
        return self.runs["status"].tolist()

    @property
    def f(self) -> np.ndarray:
        return self.runs["f"].to_numpy()

    # ------------------------------------------------------------ parts
    def config(self, index: int) -> "RunResult":
        """The result of configuration ``index`` alone (one cell)."""
        columns = {}
        for table, cols in self._columns.items():
            keep = cols["_config"] == index
            columns[table] = {name: values[keep] for name, values in cols.items()}
            columns[table]["_config"] = np.zeros(int(keep.sum()), dtype=np.int64)
        run_keep = self._columns["runs"]["_config"] == index
        return RunResult(self.x[run_keep], [self.cells[index]], None, None, None, columns=columns)

    @classmethod
    def concat(cls, parts: Sequence["RunResult"]) -> "RunResult":
        """One result of several (cells in order)."""
        descriptions, columns, offset = [], {}, 0
        for table in ("runs", "trace", "hits"):
            names = list(dict.fromkeys(name for part in parts for name in part._columns[table]))
            columns[table] = {}
            for name in names:
                pieces = []
                for part in parts:
                    cols = part._columns[table]
                    n = len(cols["_config"])
                    pieces.append(cols[name] if name in cols else np.full(n, np.nan))
                columns[table][name] = np.concatenate(pieces) if pieces else np.zeros(0)
        offsets = np.cumsum([0] + [len(part.cells) for part in parts])
        for table in columns:
            columns[table]["_config"] = np.concatenate(
                [part._columns[table]["_config"] + offsets[i] for i, part in enumerate(parts)])
        for part in parts:
            descriptions.extend(part.cells)
        return cls(np.concatenate([part.x for part in parts]), descriptions, None, None, None, columns=columns)

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict()
        cell = self.cell
        more = f" ({len(self.cells)} cells)" if len(self.cells) > 1 else ""
        return (f"<RunResult {cell.get('problem')} x {cell.get('method')} x {cell.get('step_rule')}{more}: "
                f"{len(self.runs)} runs {counts}, median f {np.nanmedian(self.runs['f']):.6g}>")


def _columns(run_config, seeds, f_opt, out, trace, hits) -> dict[str, dict[str, np.ndarray]]:
    """Per-row columns of the three tables, with ``_config`` (the row's cell) instead of key columns."""
    n_runs = len(seeds)
    f_opt_value = np.nan if f_opt is None else float(f_opt)
    f_final = np.asarray(out["f"], dtype=float)
    runs = {
        "_config": run_config, "seed": seeds, "status": out["status"].astype(str).astype(object),
        "f": f_final, "f_opt": np.full(n_runs, f_opt_value), "f_gap": f_final - f_opt_value,
        "iterations": out["iterations"], "f_evals": out["f_evals"], "g_evals": out["g_evals"],
        "epochs": out["epochs"], "time": out["time"], "message": out.get("message", np.full(n_runs, "", dtype=object)),
        **out.get("step_counters", {}),
    }
    trace = dict(trace) if trace else {name: np.zeros(0) for name in ("run", "iteration", "f", "f_evals", "g_evals")}
    run_index = trace.pop("run").astype(np.int64)
    trace = {"_config": run_config[run_index], "seed": seeds[run_index], **trace}
    if "f" in trace:
        trace["f_gap"] = trace["f"] - f_opt_value
    hit_cols: dict[str, np.ndarray] = {"_config": np.zeros(0, dtype=np.int64)}
    if hits is not None:
        hits = dict(hits)
        run_index = hits.pop("run").astype(np.int64)
        hit_cols = {"_config": run_config[run_index], "seed": seeds[run_index], **hits,
                    "estimated": np.zeros(len(run_index), dtype=bool)}
    return {"runs": runs, "trace": trace, "hits": hit_cols}
