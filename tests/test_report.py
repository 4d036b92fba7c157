"""The HTML report: opened in a real headless Chromium over the DevTools protocol, and its failures table."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench import analysis
from optbench.cli import main
from optbench.report import figures, load_results, report
from optbench.errors import ParameterError
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe"]


class DevTools:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out; NUL-framed JSON)."""

    def __init__(self, tmp: Path, timeout: float = 60.0):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:  # CI installs Debian's chromium: a missing browser is a failure, not a skip
            pytest.fail("chromium is not installed (Debian package `chromium`); the report test needs it")
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()

        def plumbing():
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=plumbing, close_fds=False,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.deadline = time.monotonic() + timeout
        self.buffer = b""
        self.events: list[dict] = []
        self.next_id = 0

    def _message(self) -> dict:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise ConnectionError("chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self._read)
        os.close(self._write)


PROBE = """JSON.stringify({
    images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth})),
    leaderboard: Array.from(document.querySelectorAll('table.leaderboard tbody tr')).filter(r => !r.hidden).map(
        r => Array.from(r.cells).slice(0, 4).map(c => c.textContent.trim())),  // rank, mark, problem, solver
    headers: Array.from(document.querySelectorAll('table.leaderboard thead th')).map(h => h.textContent.trim()),
    failures: Array.from(document.querySelectorAll('table.failures tbody tr')).map(
        r => Array.from(r.cells).map(c => c.textContent.trim())),
    csv: (document.querySelector('#table-leaderboard a.csv') || {}).href || '',
    scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
    innerWidth: window.innerWidth,
    title: document.title})"""


def _column_values(column: str) -> str:
    """JavaScript: the data-v (or text) of ``column`` of the leaderboard's visible rows, in page order."""
    return f"""(() => {{
        const heads = Array.from(document.querySelectorAll('table.leaderboard thead th')).map(h => h.textContent.trim());
        const i = heads.indexOf({json.dumps(column)});
        return JSON.stringify(Array.from(document.querySelectorAll('table.leaderboard tbody tr')).filter(r => !r.hidden)
            .map(r => r.cells[i].getAttribute('data-v') ?? r.cells[i].textContent.trim()));
    }})()"""


INTERACT = {  # name -> JavaScript run after the first probe, in this order
    "sorted": """(() => { const th = Array.from(document.querySelectorAll('table.leaderboard thead th'))
                    .find(h => h.textContent.trim() === 'final gap median'); th.click(); return 'ok'; })()""",
    "sorted_values": _column_values("final gap median"),
    "filtered": """(() => { const box = document.querySelector('#table-leaderboard input[data-filter="step"]');
                      box.value = 'lr=0.45'; box.dispatchEvent(new Event('input')); return 'ok'; })()""",
    "filtered_rows": _column_values("solver"),
}


def open_in_chromium(page: Path, tmp: Path, width: int = 1400, interact: bool = True,
                     probes: dict[str, str] | None = None) -> dict:
    """Load ``page`` at ``width`` px; return console errors, probe results, interactions and a full-page screenshot.

    ``probes``: more JavaScript expressions (name -> expression) evaluated after the first probe, in order.
    """
    browser = DevTools(tmp)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            browser.send(domain, session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired")

        def evaluate(expression: str):
            result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
            return result["result"].get("value")

        state = json.loads(evaluate(PROBE))
        for name, expression in (probes or {}).items():
            state[name] = evaluate(expression)
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        screenshot = tmp / "report.png"
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        if interact:
            for name, expression in INTERACT.items():
                value = evaluate(expression)
                state[name] = json.loads(value) if name.endswith(("_values", "_rows")) else value
        errors = []
        for event in browser.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text"))
        state.update(errors=errors, screenshot=screenshot)
        return state
    finally:
        browser.close()


# ---------------------------------------------------------------- result sets
LRS = (0.02, 0.1, 0.45, 1.2)  # 1.2 diverges on the sphere (|1 - 2 lr| > 1)


@pytest.fixture(scope="module")
def results():
    out = [ob.run("sphere", "gd", {"name": "constant", "lr": lr}, seeds=4, max_iter=200) for lr in LRS]
    out += [ob.run({"name": "quadratic", "dim": 5}, "gd", {"name": "constant", "lr": lr}, seeds=4, max_iter=200)
            for lr in LRS[:2]]
    return out


def _with_failures(results):
    """The result set plus hand-made errored and timed-out runs (no trace rows, NaN or absurd f)."""
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    trace = pd.concat([r.trace for r in results], ignore_index=True)
    template = results[1].runs.iloc[0]  # sphere, lr 0.1
    extra = []
    for seed, status, f, message in [(10, "error", np.nan, "FloatingPointError: overflow in step"),
                                     (11, "error", np.nan, "ValueError: bad minibatch"),
                                     (12, "timeout", 1e300, "cell exceeded timeout=60 s")]:
        row = template.copy()
        row["seed"], row["status"], row["f"], row["f_gap"], row["message"] = seed, status, f, f, message
        extra.append(row)
    return pd.concat([runs, pd.DataFrame(extra)], ignore_index=True), trace


@pytest.fixture(scope="module")
def opened(results, tmp_path_factory):
    """One report of the result set with diverged, errored and timed-out runs, opened once in Chromium."""
    tmp = tmp_path_factory.mktemp("chromium")
    runs, trace = _with_failures(results)
    page = report((runs, trace), tmp / "report", bootstrap=100)
    return page, runs, trace, open_in_chromium(page, tmp)


def _independent_medians(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, solver): numpy median of the finished runs' final gaps and the counts of failures, from raw columns."""
    prepared, _ = analysis.prepare(runs, None)
    rows = []
    for (problem, solver), group in prepared.groupby(["problem_label", "solver"]):
        finished = group[group["status"].isin(["converged", "budget"])]["f_gap"].to_numpy(dtype=float)
        with_failures = np.where(group["status"].isin(["converged", "budget"]), group["f_gap"].to_numpy(dtype=float), np.inf)
        rows.append({"problem_label": problem, "solver": solver, "median": np.median(finished) if finished.size else np.nan,
                     "median_all": np.median(with_failures),
                     "diverged": int((group["status"] == "diverged").sum())})
    return pd.DataFrame(rows)


def test_report_opens_in_headless_chromium(opened, tmp_path):
    page, runs, _, state = opened
    assert page.name == "index.html"
    assert state["errors"] == []
    assert len(state["images"]) >= 6
    assert all(image["complete"] and image["width"] > 0 for image in state["images"])
    expected = {("sphere(dim=2)", f"gd + constant(lr={lr})") for lr in LRS}
    expected |= {("quadratic(dim=5)", f"gd + constant(lr={lr})") for lr in LRS[:2]}
    assert {(r[2], r[3]) for r in state["leaderboard"]} == expected and len(state["leaderboard"]) == len(expected)
    # nothing wider than the page at 1400 px: no horizontal scrolling (the vertical scroll bar takes its width)
    assert state["innerWidth"] == 1400 and state["scrollWidth"] == state["clientWidth"] > 1300
    assert state["screenshot"].stat().st_size > 10_000
    shutil.copy(state["screenshot"], tmp_path / "report.png")  # kept in this test's temporary folder
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page.read_text())


PHONE = {  # at 390 px: is the contents menu closed, does it open, and does the page still fit?
    "menu_links_shown": "getComputedStyle(document.querySelector('.toc-links')).display",
    "nav_width": "document.querySelector('nav.toc').getBoundingClientRect().width",
    "open_menu": "document.querySelector('label.toc-button').click(), "
                 "getComputedStyle(document.querySelector('.toc-links')).display",
    "scroll_after_menu": "document.documentElement.scrollWidth",
    "main_left": "document.querySelector('main').getBoundingClientRect().left",
}


def test_report_fits_a_phone_without_sideways_scrolling(opened, tmp_path):
    page, _, _, wide = opened
    assert wide["scrollWidth"] == wide["clientWidth"]  # 1400 px: nothing wider than the page
    state = open_in_chromium(page, tmp_path, width=390, interact=False, probes=PHONE)
    assert state["errors"] == []
    assert state["innerWidth"] == 390 and state["scrollWidth"] <= 400 and state["scrollWidth"] == state["clientWidth"]
    # the contents collapse into a menu above the text, which then gets the whole width
    assert state["menu_links_shown"] == "none" and state["main_left"] == 0 and state["nav_width"] >= state["clientWidth"] - 1
    assert state["open_menu"] == "block" and state["scroll_after_menu"] <= 400
    shutil.copy(state["screenshot"], tmp_path / "report-390.png")


def test_leaderboard_first_rows_are_the_best(opened):
    _, runs, _, state = opened
    truth = _independent_medians(runs)
    for problem, group in truth.groupby("problem_label"):
        # rank: median over all runs, a failed run counting as +inf; gaps within round-off of each other tie
        best = set(group.loc[group["median_all"] <= group["median_all"].min() + 1e-10, "solver"])
        first = next(row for row in state["leaderboard"] if row[2] == problem)
        assert first[3] in best and first[1] == "best"
        ranks = [float(row[0]) for row in state["leaderboard"] if row[2] == problem]
        assert ranks == sorted(ranks)  # sorted by rank within the problem


def test_clicking_a_header_sorts_and_typing_filters(opened):
    _, runs, _, state = opened
    values = [float(v) for v in state["sorted_values"]]
    finite = [v for v in values if not np.isnan(v)]
    assert finite == sorted(finite) and all(np.isnan(v) for v in values[len(finite):])  # NaN (no finished run) last
    assert len(finite) < len(values)  # lr=1.2 diverged everywhere: its median is missing
    wanted = {s for s in _independent_medians(runs)["solver"] if "lr=0.45" in s}
    assert state["filtered_rows"] and set(state["filtered_rows"]) == wanted
    assert len(state["filtered_rows"]) == int((_independent_medians(runs)["solver"].isin(wanted)).sum())


def test_csv_link_parses_back_to_the_table(opened):
    _, runs, _, state = opened
    assert state["csv"].startswith("data:text/csv;base64,")
    table = pd.read_csv(io.BytesIO(base64.b64decode(state["csv"].split(",", 1)[1])))
    truth = _independent_medians(runs).set_index(["problem_label", "solver"])
    table = table.set_index(["problem_label", "solver"])
    assert set(table.index) == set(truth.index)
    for key, row in truth.iterrows():
        got = table.loc[key]
        assert (np.isnan(row["median"]) and np.isnan(got["f_gap_median"])) or got["f_gap_median"] == pytest.approx(row["median"], rel=1e-12)
        assert got["diverged"] == row["diverged"]
    shown = [(r[2], r[3]) for r in state["leaderboard"]]
    assert shown == [tuple(k) for k in table.index]  # the CSV is the table shown, in its order


def test_failures_grouped_by_cell_and_medians_not_poisoned(opened, results):
    _, runs, trace, state = opened
    groups = {(row[1], row[2]): (int(row[3]), row[6]) for row in state["failures"]}
    assert groups[("gd + constant(lr=1.2)", "diverged")][0] == 4
    assert groups[("gd + constant(lr=0.1)", "error")] == (2, "FloatingPointError: overflow in step")
    assert groups[("gd + constant(lr=0.1)", "timeout")] == (1, "cell exceeded timeout=60 s")
    assert len(groups) == 3
    board = analysis.leaderboard(runs, trace).set_index(["problem_label", "solver"])
    row = board.loc[("sphere(dim=2)", "gd + constant(lr=0.1)")]
    clean = results[1].runs["f_gap"].to_numpy()
    assert row["f_gap_median"] == pytest.approx(np.median(clean), rel=1e-12)  # 1e300 and NaN left out
    assert row["n_runs"] == 7 and row["error_rate"] == pytest.approx(2 / 7) and row["timeout_rate"] == pytest.approx(1 / 7)


def test_report_from_directory_and_cli(results, tmp_path):
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    trace = pd.concat([r.trace for r in results], ignore_index=True)
    folder = tmp_path / "results"
    folder.mkdir()
    runs.to_parquet(folder / "runs.parquet")
    trace.to_parquet(folder / "trace.parquet")
    (folder / "provenance.json").write_text(json.dumps({"optbench": "9.9.9", "git_commit": "abc123", "suite": "quick"}))
    data = load_results(folder)
    assert len(data.runs) == len(runs) and len(data.trace) == len(trace)
    assert main(["report", str(folder), "--out", str(tmp_path / "html")]) == 0
    text = (tmp_path / "html" / "index.html").read_text()
    assert "abc123" in text and "9.9.9" in text and "optbench report: quick" in text
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_unknown_f_opt_is_said_in_the_report(tmp_path):
    result = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=20)
    runs, trace = result.runs.assign(f_opt=np.nan, f_gap=np.nan), result.trace.assign(f_gap=np.nan)
    text = report((runs, trace), tmp_path, bootstrap=20).read_text()
    assert "f_opt is unknown for sphere(dim=2)" in text


def test_figure_functions_return_matplotlib_figures(results):
    styles = figures.styles_for(results)
    for plot in (figures.convergence_plot, figures.ecdf_plot, figures.performance_profile_plot, figures.step_size_plot,
                 figures.grad_norm_plot, figures.data_profile_plot, figures.sensitivity_plot, figures.final_gap_plot):
        fig = plot(results, styles=styles)
        assert isinstance(fig, plt.Figure) and fig.axes
        plt.close(fig)
    fig = figures.rank_heatmap(results)
    assert isinstance(fig, plt.Figure)
    plt.close(fig)
    fig = figures.convergence_plot(results, axis="iterations", styles=styles)
    assert fig.axes[0].get_xlabel() == "iterations"
    plt.close(fig)


def test_bad_inputs_are_clear(results, tmp_path):
    with pytest.raises(ParameterError, match="results must be a results directory"):
        report(42, tmp_path)
    with pytest.raises(ParameterError, match="unknown axis"):
        report(results, tmp_path, axis="seconds")
    with pytest.raises(FileNotFoundError, match="holds no results"):
        report(tmp_path, tmp_path / "out")
