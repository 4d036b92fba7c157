"""One validation layer (optbench/constraints.py): the same wrong value reads the same from every entry point.

Each case gives one wrong value to ``ob.run``, ``ob.tune``, ``ob.compare``, a
registry's ``create``, a suite file (``parse_suite``) and ``optbench run FILE``.
Every message must start with the place the value came from (an argument,
``seeds``, or a file and key path, ``v.toml: methods[0].seeds``), and what follows
it (what was wrong, the valid choices, the closest match) must be the same text
everywhere. The CLI exits 2 with that message on one line and writes nothing.
"""

from __future__ import annotations

import re

import pytest

import optbench as ob
from optbench.cli import main
from optbench.engine.budget import Budget
from optbench.errors import ParameterError, RegistryError, SuiteError
from optbench.suite import parse_suite
from conftest import suite_toml

SPACE = {"step_rule.lr": {"log_uniform": [1e-3, 1.0]}}
GD = {"name": "gd", "step_rule": {"name": "constant", "lr": 0.1}}


def run(**arguments):
    return ob.run(arguments.pop("problem", "sphere"), arguments.pop("method", "gd"), arguments.pop("step_rule", None),
                  **{"max_iter": 5, **arguments})


def tune(**arguments):
    settings = {"space": SPACE, "trials": 2, "seeds": 1, "eval_seeds": 1, "max_iter": 5, **arguments}
    return ob.tune("sphere", settings.pop("method", "gd"), "constant", **settings)


def suite(budget=None, method=None, tuning=None, **top) -> str:
    """A one-cell suite file ``v.toml`` with the wrong value put in."""
    entry = dict(GD, **(method or {}))
    if tuning is not None:
        entry["tune"] = tuning.pop("space", SPACE)
    return suite_toml(name="v", seeds=top.pop("seeds", 1), budget={"max_iter": 5, **(budget or {})},
                      problems=[{"name": "sphere", "dim": 2}], methods=[entry], tuning=tuning, **top)


# (name, [(entry point, location the message starts with)], [suite texts and their locations])
CASES = [
    ("seeds=0", [(lambda: run(seeds=0), "seeds"), (lambda: tune(seeds=0), "seeds"),
                 (lambda: tune(eval_seeds=0), "eval_seeds")],
     [(suite(seeds=0), "v.toml: seeds"), (suite(tuning={"seeds": 0}), "v.toml: tuning.seeds")]),
    ("seeds='x'", [(lambda: run(seeds="x"), "seeds"), (lambda: tune(seeds="x"), "seeds")],
     [(suite(seeds="x"), "v.toml: seeds"), (suite(tuning={"seeds": "x"}), "v.toml: tuning.seeds")]),
    ("seeds=[1, -2]", [(lambda: run(seeds=[1, -2]), "seeds[1]"), (lambda: tune(eval_seeds=[1, -2]), "eval_seeds[1]")],
     [(suite(seeds=[1, -2]), "v.toml: seeds[1]")]),
    ("max_iter=-1", [(lambda: run(max_iter=-1), "max_iter"), (lambda: tune(max_iter=-1), "max_iter")],
     [(suite(budget={"max_iter": -1}), "v.toml: budget.max_iter")]),
    ("tol='abc'", [(lambda: run(tol="abc"), "tol"), (lambda: tune(tol="abc"), "tol")],
     [(suite(budget={"tol": "abc"}), "v.toml: budget.tol")]),
    ("tol={'fgap': 1}", [(lambda: run(tol={"fgap": 1e-3}), "tol.fgap"), (lambda: tune(tol={"fgap": 1e-3}), "tol.fgap")],
     [(suite(budget={"tol": {"fgap": 1e-3}}), "v.toml: budget.tol.fgap")]),
    ("record='sometimes'", [(lambda: run(record="sometimes"), "record"), (lambda: tune(record="sometimes"), "record")],
     [(suite(budget={"record": "sometimes"}), "v.toml: budget.record")]),
    ("method 'gdd'", [(lambda: run(method="gdd"), ""), (lambda: tune(method="gdd"), ""),
                      (lambda: ob.methods.create("gdd"), "")],
     [(suite(method={"name": "gdd"}), "v.toml: methods[0].name")]),
    ("path 'metod.lr'", [(lambda: run(step_rule="constant", sweep={"metod.lr": [0.1]}), "sweep"),
                         (lambda: tune(space={"metod.lr": [0.1]}), "space")],
     [(suite(tuning={"space": {"metod.lr": [0.1]}}), "v.toml: methods[0].tune")]),
    ("target=-1", [(lambda: tune(target=-1), "target"),
                   (lambda: ob.compare("no-base", "no-new", "no-out", target=-1), "target")],
     [(suite(tuning={"target": -1}), "v.toml: tuning.target")]),
    ("lr=-1", [(lambda: run(step_rule={"name": "constant", "lr": -1.0}), ""),
               (lambda: ob.step_rules.create("constant", lr=-1.0), "")],
     [(suite(method={"step_rule": {"name": "constant", "lr": -1.0}}), "v.toml: methods[0].step_rule")]),
    ("a step rule for l-bfgs-b", [(lambda: run(method="l-bfgs-b", step_rule="constant"), ""),
                                  (lambda: tune(method="l-bfgs-b", space={"method.maxcor": [3, 5]}), "")],
     [(suite(method={"name": "l-bfgs-b", "step_rule": "constant"}), "v.toml: methods[0].step_rule")]),
]


def detail(message: str, location: str) -> str:
    """What a message says after its location: ``" must be ..."`` or ``": unknown ..."`` (location-free)."""
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(location), f"{message!r} does not start with {location!r}"
    rest = message[len(location):]
    assert not location or rest.startswith((" must be ", ": ")), rest
    return rest.removeprefix(": ").removeprefix(" ")


def raised(call) -> str:
    with pytest.raises((ParameterError, RegistryError)) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("name, calls, suites", CASES, ids=[case[0] for case in CASES])
def test_the_same_wrong_value_reads_the_same_from_every_entry_point(name, calls, suites, tmp_path, monkeypatch, capsys,
                                                                    write_suite):
    details = [detail(raised(call), location) for call, location in calls]
    monkeypatch.chdir(tmp_path)
    for text, location in suites:
        with pytest.raises(SuiteError) as info:
            parse_suite(text, "v.toml")
        details.append(detail(str(info.value), location))
        path = write_suite(text, file="v.toml")
        assert main(["run", str(path)]) == 2
        assert capsys.readouterr().err == f"optbench: error: {info.value}\n"
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["v.toml"]  # nothing written
    assert len(set(details)) == 1, details
    # the shape: "must be <valid choices>, got <value>", or "unknown <what> 'x'. [Did you mean 'y'?] <Valid ...>: ..."
    assert re.fullmatch(r"(.+: \w+ )?must be .+, got .+|unknown [a-z ]+ '.+'\.( Did you mean '.+'\?)? (Valid|Registered) "
                        r"[a-z ]+: .+\..*|method .+ takes no step rule.*", details[0]), details[0]


def test_messages_name_the_valid_choices_and_the_closest_match():
    assert raised(lambda: run(record="logg")) == ("record must be 'log', 'all', 'last' or an integer >= 1 (every k "
                                                  "iterations), got 'logg'. Did you mean 'log'?")
    assert raised(lambda: run(tol={"fgap": 1e-3})) == ("tol.fgap: unknown tolerance 'fgap'. Did you mean 'f_gap'? "
                                                       "Valid tolerances: grad, f, x, f_gap.")
    assert raised(lambda: run(step_rule="constant", sweep={"step_rule.lrr": [0.1]})).startswith(
        "sweep: unknown parameter path 'step_rule.lrr'. Did you mean 'step_rule.lr'? Valid parameter paths: ")
    assert raised(lambda: run(method="l-bfgs-b", sweep={"step_rule.lr": [0.1]})).endswith(
        "Method 'l-bfgs-b' takes no step rule.")


def test_the_budget_parser_is_the_one_ob_run_and_suite_files_use():
    budget = Budget.parse({"max_iter": 7, "epochs": 2.5, "tol": 1e-6, "record": 3})
    assert (budget.max_iter, budget.max_epochs, budget.tol, budget.record) == (7, 2.5, {"grad": 1e-6}, 3)
    assert Budget.parse({}).unlimited() and Budget.parse({}).record == "log"
    # a suite's [budget] and ob.run's arguments give the runs the same limits
    text = suite(budget={"max_iter": 7, "tol": {"f": 1e-9}, "record": "all"})
    cell = parse_suite(text, "v.toml").cells[0]
    result = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, seeds=1, max_iter=7, tol={"f": 1e-9}, record="all")
    assert cell.max_iter == 7 and cell.tol == {"f": 1e-9} and cell.record == "all"
    assert result.trace["iteration"].tolist() == list(range(int(result.runs["iterations"].iloc[0]) + 1))
