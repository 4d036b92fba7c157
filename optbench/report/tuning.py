"""The tuning part of a report: tuned against default, sensitivity to each tuned parameter, tuneability.

A tuned suite's runs carry ``phase`` ("tuning" on the tuning seeds, "evaluation"
on the evaluation seeds) and ``trial`` (0 = the default setting, k = the k-th
draw of the search). The rest of the report reads the evaluation phase only
(:func:`evaluation_set`): the trials are how a setting was chosen, not
competitors. Here:

- :func:`tuned_vs_default`: per (problem, tuned method) the selected and the
  default setting, their criterion on the tuning seeds and their median final
  gap on the evaluation seeds (failed runs -- diverged, error, timeout -- as +inf);
- :func:`tuneability` (DeepOBS): the share of the achievable improvement reached
  within the first 1, 5 and N trials, in decades of the criterion:
  ``(log10 c_ref - log10 min(c_0..c_k)) / (log10 c_ref - log10 min(c_0..c_N))``
  with ``c_ref`` the default's criterion (the worst finite trial's when the
  default failed), criteria floored at 1e-16; 1 when nothing could be gained;
- :func:`sensitivity_figure`: the criterion against each tuned parameter, trials as
  points, the selected trial as a star and the default as a square.

The criterion shown is the one the suite selected with: the tuning protocol is
stored with the results (``provenance["tuning"]``, written by
:func:`optbench.driver.run_tuned_suite`) and read here; results without it (older
folders, ``ob.tune`` tables) show the median final gap over the tuning seeds and say
so. The selection itself is read from the evaluation phase; the tuned label
("<method> + <rule> (tuned)") comes from :mod:`optbench.schema` through
:func:`optbench.analysis.prepare`.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import pandas as pd

from optbench import analysis
from optbench.report.data import subset_runs
from optbench.schema import params_text, tuned_label

__all__ = ["is_tuned", "evaluation_set", "protocol_of", "criterion_trials", "tuned_vs_default", "tuneability", "sensitivity_figure", "section"]

TARGET = ["problem_label", "method", "step_rule", "batch"]
FLOOR = 1e-16


def is_tuned(runs: pd.DataFrame) -> bool:
    """Whether a runs table holds a tuned suite's tuning phase."""
    return "phase" in runs and bool((runs["phase"].astype(str) == "tuning").any())


def evaluation_set(data: Any) -> Any:
    """A prepared :class:`~optbench.report.data.ResultSet` without the tuning phase (run ids of trace and hits renumbered)."""
    if not is_tuned(data.runs):
        return data
    return subset_runs(data, (data.runs["phase"].astype(str) != "tuning").to_numpy())


def protocol_of(data: Any) -> dict[str, Any] | None:
    """The tuning protocol stored with the results (``provenance["tuning"]``), or None for results without it."""
    stored = (getattr(data, "provenance", None) or {}).get("tuning")
    return stored if isinstance(stored, dict) and "criterion" in stored else None


def _targets(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs[runs["copy_of"] < 0].copy() if "copy_of" in runs else runs.copy()  # tuned copies repeat runs
    batch = runs["batch_size"].astype("Int64")
    runs["batch"] = batch.astype(str).where(batch.notna(), "full")
    runs["value"] = analysis.final_gaps(runs)[1]
    return runs


def _medians(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    grouped = rows.groupby(TARGET + ["trial"], sort=True)
    return grouped.agg(**{name: ("value", "median")}, method_params=("method_params", "first"),
                       step_params=("step_params", "first"), solver=("solver", "first")).reset_index()


def trial_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, tuned method, trial): the median final gap over the tuning seeds (``criterion``) and the setting."""
    rows = _targets(runs[runs["phase"].astype(str) == "tuning"])
    table = _medians(rows, "criterion")
    table["trial"] = table["trial"].astype(np.int64)
    return table


def criterion_trials(data: Any) -> tuple[pd.DataFrame, str]:
    """Per (problem, tuned method, trial) the criterion the suite selected with, and its name.

    The protocol stored with the results says which (:func:`protocol_of`); without it,
    the median final gap over the tuning seeds (:func:`trial_table`).
    """
    from optbench import tuning

    protocol = protocol_of(data)
    if protocol is None:
        return trial_table(_targets(data.runs)), "median final gap on the tuning seeds (criterion not stored)"
    phase = subset_runs(data, (data.runs["phase"].astype(str) == "tuning").to_numpy())
    table = tuning.criterion_table(phase.runs, phase.trace, phase.hits, protocol["criterion"], float(protocol["target"]))
    target = "" if protocol["criterion"] in ("final_gap", "area_under_curve") else f" (target {float(protocol['target']):.0e})"
    return table, f"{protocol['criterion']}{target} on the tuning seeds"


def tuned_vs_default(runs: pd.DataFrame, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (problem, tuned method): selected trial, both settings, tuning criterion, evaluation medians.

    ``trials``: the criterion per trial (:func:`criterion_trials`); the median final gap when not given.
    """
    runs = _targets(runs)
    trials = trial_table(runs) if trials is None else trials
    evaluation = runs[runs["phase"].astype(str) == "evaluation"]
    evaluated = _medians(evaluation.assign(trial=evaluation["trial"].astype(np.int64)), "evaluation_gap")
    selected = evaluated.groupby(TARGET)["trial"].max().rename("selected").reset_index()
    table = selected.merge(trials, on=TARGET)
    default = table[table["trial"] == 0].set_index(TARGET)
    chosen = table[table["trial"] == table["selected"]].set_index(TARGET)
    gaps = evaluated.set_index(TARGET + ["trial"])["evaluation_gap"]
    out = pd.DataFrame(index=chosen.index)
    out["selected_trial"] = chosen["trial"]
    out["tuned_setting"] = _setting(chosen)
    out["default_setting"] = _setting(default).reindex(out.index)
    out["tuning_gap_tuned"] = chosen["criterion"]
    out["tuning_gap_default"] = default["criterion"].reindex(out.index)
    out["eval_gap_tuned"] = [gaps.get(key + (trial,), np.nan) for key, trial in zip(out.index, out["selected_trial"])]
    out["eval_gap_default"] = [gaps.get(key + (0,), np.nan) for key in out.index]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["improvement"] = out["eval_gap_default"] / out["eval_gap_tuned"]
    return out.reset_index()


def _setting(rows: pd.DataFrame) -> pd.Series:
    """``method params | step params`` of each row, numbers to 4 significant digits (:func:`optbench.schema.params_text`)."""
    return pd.Series([f"{params_text(m)} | {params_text(s)}".strip(" |") for m, s in zip(rows["method_params"], rows["step_params"])],
                     index=rows.index)


def _share(criteria: np.ndarray, within: int) -> float:
    logs = np.log10(np.maximum(criteria, FLOOR))
    finite = logs[np.isfinite(logs)]
    if not len(finite):
        return np.nan
    reference = logs[0] if np.isfinite(logs[0]) else finite.max()
    best_all = finite.min()
    if reference <= best_all:
        return 1.0
    best_k = np.min(logs[: within + 1])
    return float(np.clip((reference - min(best_k, reference)) / (reference - best_all), 0.0, 1.0))


def tuneability(runs: pd.DataFrame, within: tuple[int, ...] = (1, 5), trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (problem, tuned method): the share of the achievable improvement reached within 1, 5 and all N trials."""
    trials = trial_table(_targets(runs)) if trials is None else trials
    rows = []
    for key, group in trials.groupby(TARGET, sort=True):
        criteria = group.sort_values("trial")["criterion"].to_numpy(dtype=float)
        n = len(criteria) - 1
        row = dict(zip(TARGET, key), trials=n)
        row.update({f"within_{k}": _share(criteria, min(k, n)) for k in within})
        row[f"within_{n}"] = _share(criteria, n)
        rows.append(row)
    return pd.DataFrame(rows)


def _default_of(registry: Any, owner: str, name: str) -> Any:
    """The registered default of a parameter (None when unknown: a plugin no longer loaded)."""
    try:
        default = registry.parameters(owner)[name].default
    except Exception:  # noqa: BLE001 -- unknown owner or parameter
        return None
    return list(default) if isinstance(default, tuple) else default


def _tuned_parameters(group: pd.DataFrame) -> dict[str, np.ndarray]:
    """The parameters that vary among the trials of ``group``, as numbers per trial (pairs: the first entry).

    A trial that leaves a parameter at its default (trial 0) has it filled in from the registry.
    """
    from optbench.registry import methods, step_rules

    values: dict[str, list] = {}
    for prefix, column, registry, owner in (("method", "method_params", methods, group["method"].iloc[0]),
                                            ("step_rule", "step_params", step_rules, group["step_rule"].iloc[0])):
        parsed = [json.loads(text or "{}") for text in group[column]]
        for name in sorted({k for p in parsed for k in p}):
            column_values = [p.get(name, _default_of(registry, owner, name)) for p in parsed]
            if len({json.dumps(v) for v in column_values}) > 1:
                numbers = [v[0] if isinstance(v, list) else v for v in column_values]
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                    values[f"{prefix}.{name}"] = np.asarray(numbers, dtype=float)
    return values


def sensitivity_figure(runs: pd.DataFrame, method: str, step_rule: str, batch: str,
                       trials: pd.DataFrame | None = None, selected: pd.Series | None = None):
    """The criterion against each tuned parameter, one panel per (problem, parameter); None when nothing varies.

    ``trials`` (:func:`trial_table`) and ``selected`` (the ``selected_trial`` column of
    :func:`tuned_vs_default` indexed by problem and target) are computed when not given.
    """
    import matplotlib.pyplot as plt

    trials = trial_table(_targets(runs)) if trials is None else trials
    if selected is None:
        selected = tuned_vs_default(runs).set_index(TARGET)["selected_trial"]
    mine = trials[(trials["method"] == method) & (trials["step_rule"] == step_rule) & (trials["batch"] == batch)]
    panels = [(problem, name, values, group) for problem, group in mine.groupby("problem_label", sort=True)
              for name, values in _tuned_parameters(group).items()]
    if not panels:
        return None
    columns = min(3, len(panels))
    fig, axes = plt.subplots((len(panels) + columns - 1) // columns, columns, squeeze=False,
                             figsize=(4.6 * columns, 3.8 * ((len(panels) + columns - 1) // columns)))
    for ax, (problem, name, x, group) in zip(axes.flat, panels):
        _panel(ax, x, group, int(selected.get((problem, method, step_rule, batch), 0)))
        ax.set(xlabel=name, ylabel="median final f − f_opt\n(tuning seeds)")
        ax.set_title(f"{problem}: {len(group)} trials", fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    entries = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(entries.values()), list(entries), loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.3 / len(axes), hspace=0.55, wspace=0.3)
    return fig


def _panel(ax, x: np.ndarray, group: pd.DataFrame, selected: int) -> None:
    from matplotlib.ticker import LogLocator, NullLocator

    y = group["criterion"].to_numpy(dtype=float)
    trial = group["trial"].to_numpy()
    finite = np.isfinite(y)
    shown = np.maximum(y, FLOOR)
    ax.scatter(x[finite], shown[finite], s=22, color="tab:blue", label="trial")
    top = ax.get_xaxis_transform()  # failed trials at the top edge: they do not set the gap axis
    ax.plot(x[~finite], np.full((~finite).sum(), 0.97), ls="none", ms=6, marker="x", color="tab:red", transform=top,
            clip_on=False, label="failed (+inf), top edge" if (~finite).any() else None)
    for mark, which, label in (("s", trial == 0, "default"), ("*", trial == selected, "selected")):
        ok = which & finite
        ax.scatter(x[ok], shown[ok], s=140, marker=mark, facecolors="none", edgecolors="black", label=label)
        if (which & ~finite).any():
            ax.plot(x[which & ~finite], [0.97] * int((which & ~finite).sum()), ls="none", ms=12, marker=mark,
                    transform=top, mfc="none", mec="black", clip_on=False)
    if finite.any():
        ax.set_yscale("log")
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "every trial failed", ha="center", va="center", transform=ax.transAxes)
    if np.all(x > 0) and x.max() / x.min() > 20:
        ax.set_xscale("log")
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):  # many decades: few ticks
        if axis.get_scale() == "log" and limits[1] > 1e6 * limits[0] > 0:
            axis.set_major_locator(LogLocator(numticks=6))
            axis.set_minor_locator(NullLocator())


HEADERS = {"problem_label": "problem", "method": "method", "step_rule": "step rule", "batch": "batch size",
           "selected_trial": "selected trial", "tuned_setting": "tuned setting", "default_setting": "default setting",
           "tuning_gap_tuned": "tuning gap, tuned", "tuning_gap_default": "tuning gap, default",
           "eval_gap_tuned": "evaluation gap, tuned", "eval_gap_default": "evaluation gap, default",
           "improvement": "improvement (default / tuned)", "trials": "trials"}


def _filters(table: pd.DataFrame) -> pd.DataFrame:
    """The filter columns (problem, method, step rule) of a tuning table."""
    return table.rename(columns={"method": "method_label", "step_rule": "step_label"})


def section(data: Any) -> tuple[list[tuple[str, str, bool]], str]:
    """The report's tuning section of a prepared result set (all phases): table of contents entries and HTML."""
    from optbench.report.sections import figure_html
    from optbench.report.tables import html_table

    runs = data.runs
    if not is_tuned(runs):
        return [], ""
    trials, criterion = criterion_trials(data)
    versus, ease = tuned_vs_default(runs, trials), tuneability(runs, trials=trials)
    parts = ['<h2 id="tuning">Tuning: tuned against default</h2>',
             '<p class="note">Every tuned method ran its trials (trial 0 = its default setting) on tuning seeds that '
             'are disjoint from the evaluation seeds; the selected setting and the default then ran on the evaluation '
             f'seeds, which are the only runs in the tables above. Selection criterion: {html.escape(criterion)} '
             '(tuning gap columns). Evaluation gaps: medians with failed runs as +inf.</p>',
             html_table(versus, "tuned-vs-default", filters=_filters(versus), headers=HEADERS),
             '<h3 id="tuning-tuneability">Tuneability</h3><p>Share of the achievable improvement over the default (in '
             f'decades of the criterion, {html.escape(criterion)}) reached within the first k trials.</p>',
             html_table(ease, "tuneability", filters=_filters(ease),
                        headers={**HEADERS, **{c: f"share within {c.split('_')[1]} trials" for c in ease if c.startswith("within_")}}),
             '<h3 id="tuning-sensitivity">Sensitivity</h3>']
    selected = versus.set_index(TARGET)["selected_trial"]
    for key, _ in versus.groupby(["method", "step_rule", "batch"], sort=True):
        fig = sensitivity_figure(runs, *key, trials=trials, selected=selected)
        title = tuned_label(key[0], key[1], None if key[2] == "full" else int(key[2]))
        parts.append(figure_html(fig, f"sensitivity of {title}", f"{title}: the criterion of every trial against each "
                                 "tuned parameter; star: the selected value, square: the default, x at the top edge: "
                                 "a trial whose runs failed.", dpi=80))
    toc = [("tuning", "Tuning", False), ("tuning-tuneability", "tuneability", True), ("tuning-sensitivity", "sensitivity", True)]
    return toc, "\n".join(parts)
