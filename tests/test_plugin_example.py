"""The example plugin package in examples/ is found through its entry point."""

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

import optbench as ob

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "optbench-plugin-example"


@pytest.fixture
def installed_example(tmp_path, monkeypatch):
    """Lay the package out as pip would: the module plus a .dist-info with its entry points."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / "optbench_example", tmp_path / "optbench_example")
    info = tmp_path / f"optbench_example-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # make the global registry look for entry points again, as in a new process
    monkeypatch.setattr(ob.methods, "_loaded_entry_points", False)
    yield ob.methods
    ob.methods.unregister("clipped-gd")

def test_example_plugin_is_listed_and_runs(installed_example):
    assert "clipped-gd" in installed_example.names()
    assert "entry point 'clipped-gd'" in installed_example.source("clipped-gd")
    assert installed_example.describe("clipped-gd")["params"]["max_norm"]["default"] == 1.0
    x0 = np.array([3.0, 4.0])  # ||g|| = 10 on the sphere: clipped to 1
    result = ob.run("sphere", "clipped-gd", {"name": "constant", "lr": 0.5}, x0=x0, max_iter=1)
    np.testing.assert_allclose(result.x[0], x0 - 0.5 * np.array([0.6, 0.8]), rtol=1e-15)
