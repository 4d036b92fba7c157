"""The lean run path: what ``optbench run`` imports before its first result, and which modules a suite loads.

Each check runs a fresh interpreter with an audit hook (``sys.addaudithook``) that
logs, in order, the first import of pandas, scipy and matplotlib and every rename
of a stack file into place (``os.replace`` raises the ``os.rename`` audit event);
the log says what was imported before the first result existed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HOOK = textwrap.dedent("""
    import json, sys
    events = []
    def hook(event, args):
        if event == "import":
            top = args[0].split(".")[0]
            if top in ("pandas", "scipy", "matplotlib") and ["import", top] not in events:
                events.append(["import", top])
        elif event == "os.rename" and str(args[1]).endswith(".stack.parquet"):
            events.append(["stack", str(args[1])])
    sys.addaudithook(hook)
    try:
        exec(sys.argv.pop(1))
    finally:
        print("EVENTS " + json.dumps(events), file=sys.stderr)
""")

SUITE = """
name = "lean"
seeds = 2
[budget]
max_iter = 30
[[problems]]
name = "rosenbrock"
dim = 3
[[problems]]
name = "sphere"
dim = 2
[[methods]]
name = "adam"
step_rule = { name = "constant", lr = 0.01 }
[[methods]]
name = "gd"
"""


def _events(code: str, cwd: Path) -> tuple[list, subprocess.CompletedProcess]:
    """Run ``code`` in a fresh interpreter under the hook, with an empty cache of solved optima of its own."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPTBENCH_CACHE": str(cwd / "optimum-cache")}
    done = subprocess.run([sys.executable, "-c", HOOK, code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)
    line = [text for text in done.stderr.splitlines() if text.startswith("EVENTS ")][-1]
    return json.loads(line[len("EVENTS "):]), done


def test_run_imports_no_pandas_or_scipy_before_the_first_stack_file(tmp_path):
    (tmp_path / "lean.toml").write_text(SUITE)
    code = "from optbench.cli import main; main(['run', 'lean.toml', '--no-report', '--out', 'out'])"
    events, done = _events(code, tmp_path)
    assert done.returncode == 0, done.stderr
    stacks = [i for i, event in enumerate(events) if event[0] == "stack"]
    assert len(stacks) == 2  # two problems: two stacks, each one file
    before = [event[1] for event in events[: stacks[0]]]
    assert before == [], f"imported before the first result was written: {before}"
    # the hook sees imports at all: the leaderboard at the end imports pandas (so the test can fail)
    assert ["import", "pandas"] in events[stacks[0]:]
    assert (tmp_path / "out" / "runs.parquet").is_file()


def test_loading_a_suite_imports_only_the_objective_modules_it_names(tmp_path):
    (tmp_path / "lean.toml").write_text(SUITE)
    code = textwrap.dedent("""
        import sys
        from optbench.suite import load_suite
        suite = load_suite('lean.toml')
        modules = sorted(m for m in sys.modules if m.startswith('optbench.objectives.') or m.startswith('optbench.baselines'))
        print('MODULES ' + ' '.join(modules), file=sys.stderr)
    """)
    events, done = _events(code, tmp_path)
    assert done.returncode == 0, done.stderr
    modules = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")][0].split()[1:]
    assert "optbench.objectives.testfunctions" in modules  # rosenbrock and sphere live there
    for other in ("bbob", "neural", "datasets", "s2mpj", "convex", "nonsmooth", "transforms"):
        assert f"optbench.objectives.{other}" not in modules
    assert "optbench.baselines" not in modules
    assert events == []  # no pandas, scipy or matplotlib either


def test_creating_a_problem_solves_no_optimum_and_imports_no_scipy(tmp_path):
    code = textwrap.dedent("""
        import sys, optbench as ob
        problem = ob.problems.create('logistic-regression')
        tang = ob.problems.create('styblinski-tang', dim=4)
        print('SCIPY ' + str('scipy' in sys.modules), file=sys.stderr)
        print('FOPT ' + repr(problem.f_opt), file=sys.stderr)
    """)
    events, done = _events(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "SCIPY False" in done.stderr
    assert events and events[0] == ["import", "scipy"]  # reading f_opt solves (trust-exact, linprog): scipy then
