"""Suite files: grids expand into the right cells, every mistake is a clear SuiteError, shipped suites validate."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import optbench as ob
from optbench.suite import load_suite, parse_suite, shipped_suites, suite_path
from optbench.errors import SuiteError
from conftest import suite_toml

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import numpy as np
import optbench as ob

@ob.register_problem("suite-test-net")
class Net(ob.Problem):
    """A finite sum with a list-valued parameter."""
    def __init__(self, hidden: list[int] = (4,), n_samples: int = 20):
        self.hidden, self.n_samples = list(hidden), n_samples
        self.dim = sum(hidden) + 1
    def value(self, X, batch=None):
        return np.einsum("ij,ij->i", X, X)
    def grad(self, X, batch=None):
        return 2 * X

@ob.register_method("suite-test-scipy")
class OwnLoop(ob.Method):
    owns_loop = True
    def minimize(self, oracle, x0, max_iter, tol):
        return "budget", x0
'''


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = suite_toml()  # t: sphere dim [2, 3] x gd + constant lr [0.1, 0.01], 3 seeds, max_iter 20


def test_grids_expand_into_the_product_of_their_values(tmp_path):
    suite = load_suite(write(tmp_path, BASE))
    assert suite.name == "t" and suite.seeds == (0, 1, 2)
    combos = {(c.problem["dim"], c.step_rule["lr"]) for c in suite.cells}
    assert combos == {(2, 0.1), (2, 0.01), (3, 0.1), (3, 0.01)}
    assert len({c.key for c in suite.cells}) == 4
    cell = suite.cells[0]
    assert cell.max_iter == 20 and cell.record == "log" and cell.timeout is None


def test_a_cell_runs_exactly_like_ob_run(tmp_path):
    cell = load_suite(write(tmp_path, BASE)).cells[0]
    result = ob.run(cell.problem, cell.method, cell.step_rule, seeds=[0, 1, 2], max_iter=20, suite="t")
    mine = ob.run(**cell.run_kwargs())
    assert (mine.runs["f"].to_numpy() == result.runs["f"].to_numpy()).all()
    assert cell.description["cell"] == result.runs["cell"].iloc[0]


def test_list_valued_parameter_takes_a_list_of_lists_as_its_grid(tmp_path, scratch_registry_names):
    plugin = write(tmp_path, PLUGIN, "plugin.py")
    text = f'''
plugins = ["{plugin.name}"]
[[problems]]
name = "suite-test-net"
hidden = [[4], [2, 2]]
[[problems]]
name = "suite-test-net"
hidden = [3, 3]
[[methods]]
name = "gd"
'''
    suite = load_suite(write(tmp_path, text))
    assert [c.problem["hidden"] for c in suite.cells] == [[4], [2, 2], [3, 3]]
    assert suite.plugins == (str(plugin.resolve()),)


def test_batch_sizes_apply_to_finite_sums_only(tmp_path, scratch_registry_names):
    plugin = write(tmp_path, PLUGIN, "plugin.py")
    text = f'''
plugins = ["{plugin.name}"]
[[problems]]
name = "suite-test-net"
[[problems]]
name = "sphere"
[[methods]]
name = "gd"
batch_size = [1, 5, "full"]
'''
    suite = load_suite(write(tmp_path, text))
    by_problem = {}
    for cell in suite.cells:
        by_problem.setdefault(cell.problem["name"], []).append(cell.batch_size)
    assert by_problem == {"suite-test-net": [1, 5, None], "sphere": [None]}


def test_no_methods_means_every_method_with_its_default_step_rule(tmp_path, scratch_registry_names):
    plugin = write(tmp_path, PLUGIN, "plugin.py")
    text = f'plugins = ["{plugin.name}"]\n[[problems]]\nname = "sphere"\n'
    suite = load_suite(write(tmp_path, text))
    runnable = [name for name in ob.methods.names()  # all but those needing an argument (torch's optimizer)
                if not any(p.required for p in ob.methods.parameters(name).values())]
    assert "torch" not in runnable
    assert sorted(c.method["name"] for c in suite.cells) == sorted(runnable)
    for cell in suite.cells:
        cls = ob.methods.get(cell.method["name"])
        if cls.owns_loop:
            assert cell.step_rule is None
        else:
            default = cls.default_step_rule
            assert cell.step_rule == ({"name": default} if isinstance(default, str) else default)


def test_cell_key_changes_with_the_budget_but_not_with_the_timeout(tmp_path):
    keys = lambda text: [c.key for c in load_suite(write(tmp_path, text)).cells]  # noqa: E731
    base = keys(BASE)
    assert keys(BASE) == base
    assert set(keys(BASE.replace("max_iter = 20", "max_iter = 21"))).isdisjoint(base)
    assert set(keys(BASE.replace("seeds = 3", "seeds = 4"))).isdisjoint(base)
    assert set(keys(BASE.replace("max_iter = 20", "max_iter = 20\nrecord = \"all\""))).isdisjoint(base)
    assert keys(BASE.replace("max_iter = 20", "max_iter = 20\ntimeout = 5")) == base


def test_problem_budget_overrides_the_suite_budget(tmp_path):
    text = BASE.replace('dim = [2, 3]', 'dim = 2\nbudget = { max_evals = 7 }')
    cells = load_suite(write(tmp_path, text)).cells
    assert all(c.max_evals == 7 and c.max_iter == 20 for c in cells)


ERRORS = [
    # (edit of BASE, expected fragments of the message)
    (lambda s: "budgte = 1\n" + s, ["s.toml: budgte", "unknown key 'budgte'", "Did you mean 'budget'?", "Valid keys:"]),
    (lambda s: s.replace('name = "sphere"', 'name = "sphera"'),
     ["s.toml: problems[0].name", "unknown problem 'sphera'", "Did you mean 'sphere'?", "Registered problems:"]),
    (lambda s: s.replace('name = "gd"', 'name = "gdd"'),
     ["s.toml: methods[0].name", "unknown method 'gdd'", "Did you mean 'gd'?"]),
    (lambda s: s.replace('{ name = "constant", lr', '{ name = "constnt", lr'),
     ["s.toml: methods[0].step_rule.name", "unknown step rule 'constnt'", "Did you mean 'constant'?"]),
    (lambda s: s.replace('lr = [0.1, 0.01]', 'l = 0.1'),
     ["s.toml: methods[0].step_rule.l", "has no parameter 'l'", "Did you mean 'lr'?", "Valid parameters: lr: float = 0.01"]),
    (lambda s: s.replace('lr = [0.1, 0.01]', 'lr = "fast"'),
     ["s.toml: methods[0].step_rule.lr", "expects float, got str 'fast'"]),
    (lambda s: s.replace('lr = [0.1, 0.01]', 'lr = -1.0'),
     ["s.toml: methods[0].step_rule", "lr must be a number > 0"]),
    (lambda s: s.replace('dim = [2, 3]', 'dim = [2, 0]'), ["s.toml: problems[0]: problem 'sphere': sphere needs dim >= 1, got dim=0"]),
    (lambda s: s.replace('dim = [2, 3]', 'dim = []'), ["s.toml: problems[0].dim", "empty grid"]),
    (lambda s: s.replace('dim = [2, 3]', 'dimm = 2'), ["s.toml: problems[0].dimm", "Did you mean 'dim'?"]),
    (lambda s: s.replace("max_iter = 20", "max_iter = -5"), ["s.toml: budget.max_iter must be an integer >= 0, got -5"]),
    (lambda s: s.replace("max_iter = 20", "max_itr = 5"), ["s.toml: budget.max_itr", "Did you mean 'max_iter'?"]),
    (lambda s: s.replace("max_iter = 20", 'record = "logg"'),
     ["s.toml: budget.record must be 'log', 'all', 'last' or an integer >= 1", "got 'logg'. Did you mean 'log'?"]),
    (lambda s: s.replace("max_iter = 20", "timeout = 0"), ["s.toml: budget.timeout must be a number in (0, 2678400], got 0"]),
    (lambda s: s.replace("max_iter = 20", "tol = { gradd = 1e-6 }"), ["s.toml: budget.tol.gradd: unknown tolerance 'gradd'. Did you mean 'grad'?", "Valid tolerances: grad, f, x, f_gap."]),
    (lambda s: s.replace("max_iter = 20", "epochs = 3"), ["s.toml: problems[0].budget", "not a finite sum"]),
    (lambda s: s.replace("seeds = 3", "seeds = 0"), ["s.toml: seeds must be a count of seeds from 1 to 10,000,000 or a non-empty list", "got 0"]),
    (lambda s: s.replace("seeds = 3", "seeds = [1, 1]"), ["s.toml: seeds must be a count of seeds", "seeds must not repeat (1)"]),
    (lambda s: s.replace("seeds = 3", "seeds = [1, -2]"), ["s.toml: seeds[1] must be a seed, an integer in [0, 2**63), got -2"]),
    (lambda s: s.replace('step_rule = {', 'batch_size = 0\nstep_rule = {'), ["s.toml: methods[0].batch_size", "integer >= 1"]),
    (lambda s: s.replace('seeds = 3', 'seeds = 3\nplugins = ["missing.py"]'), ["s.toml: plugins[0]", "does not exist"]),
    (lambda s: s.replace('[[problems]]\nname = "sphere"\ndim = [2, 3]\n', ''), ["s.toml: problems", "at least one [[problems]]"]),
    (lambda s: s.replace('name = "t"', 'name = "t'), ["s.toml", "not valid TOML"]),
]


@pytest.mark.parametrize("edit, fragments", ERRORS)
def test_every_mistake_names_file_key_path_and_choices(tmp_path, edit, fragments):
    with pytest.raises(SuiteError) as error:
        load_suite(write(tmp_path, edit(BASE)))
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_own_loop_method_takes_no_step_rule(tmp_path, scratch_registry_names):
    plugin = write(tmp_path, PLUGIN, "plugin.py")
    text = f'plugins = ["{plugin.name}"]\n[[problems]]\nname = "sphere"\n[[methods]]\nname = "suite-test-scipy"\nstep_rule = "constant"\n'
    with pytest.raises(SuiteError, match=r"s.toml: methods\[0\].step_rule: method 'suite-test-scipy' computes its own steps"):
        load_suite(write(tmp_path, text))


def test_batch_size_larger_than_the_data_is_an_error(tmp_path, scratch_registry_names):
    plugin = write(tmp_path, PLUGIN, "plugin.py")
    text = f'plugins = ["{plugin.name}"]\n[[problems]]\nname = "suite-test-net"\n[[methods]]\nname = "gd"\nbatch_size = 50\n'
    with pytest.raises(SuiteError, match=r"methods\[0\].batch_size: batch size 50 exceeds n_samples=20"):
        load_suite(write(tmp_path, text))


def test_unknown_suite_name_suggests_a_shipped_suite():
    with pytest.raises(SuiteError, match=r"unknown suite 'quik'.*Did you mean 'quick'\?.*Shipped suites: .*convex"):
        suite_path("quik")
    with pytest.raises(SuiteError, match=r"suite file 'nowhere/x.toml' does not exist"):
        suite_path("nowhere/x.toml")


SHIPPED = ["bbob", "convex", "cutest", "full", "multimodal", "neural", "nonsmooth", "quick", "real-data", "stepsize", "tuned"]


def test_problems_folder_is_the_only_copy_of_the_shipped_suites():
    # optbench/suites is a link to problems/: editing problems/quick.toml changes `optbench run quick`
    assert shipped_suites() == SHIPPED
    assert (ROOT / "optbench" / "suites").resolve() == (ROOT / "problems").resolve()
    source = sorted(p.name for p in (ROOT / "problems").glob("*.toml"))
    assert source == [f"{name}.toml" for name in SHIPPED]


def test_the_wheel_ships_the_suites(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("optbench-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in SHIPPED:
            assert archive.read(f"optbench/suites/{name}.toml") == (ROOT / "problems" / f"{name}.toml").read_bytes()


def test_shipped_suites_are_found_by_name_inside_the_package():
    path = suite_path("quick")
    assert path.parent.name == "suites" and path.parent.parent == Path(ob.__file__).resolve().parent


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_suite_validates(name):
    suite = load_suite(name)
    assert suite.name == name and len(suite.cells) > 0 and suite.description


def test_the_wheel_ships_the_suites(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("optbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"optbench/suites/{name}.toml" in names


def test_stepsize_suite_runs_every_registered_step_rule():
    rules = {cell.step_rule["name"] for cell in load_suite("stepsize").cells if cell.step_rule is not None}
    assert rules == set(ob.step_rules.names())


def test_a_rule_that_needs_f_opt_is_left_out_where_f_opt_is_unknown(tmp_path):
    path = write(tmp_path, '''
name = "s"
seeds = 2
[budget]
max_iter = 5
[[problems]]
name = "sphere"
[[problems]]
name = "mlp-xor"
[[methods]]
name = "gd"
step_rule = ["polyak", { name = "polyak", estimate = true }]
''')
    suite = load_suite(path)
    cells = {(c.problem["name"], c.step_rule.get("estimate", False)) for c in suite.cells}
    assert cells == {("sphere", False), ("sphere", True), ("mlp-xor", True)}
    assert len(suite.skipped) == 1
    assert "polyak left out on mlp-xor: the polyak step rule needs the problem's optimal value f_opt, and 'mlp-xor' has none" in suite.skipped[0]
    assert 'estimate = true' in suite.skipped[0]


def test_a_suite_where_no_cell_can_run_is_an_error(tmp_path):
    path = write(tmp_path, '''
name = "s"
[[problems]]
name = "mlp-xor"
[[methods]]
name = "gd"
step_rule = "polyak"
''')
    with pytest.raises(SuiteError, match="no cell can run: polyak left out on mlp-xor"):
        load_suite(path)
