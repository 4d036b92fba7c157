import subprocess
import sys
import textwrap

import optbench as ob
from optbench.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exit:
        assert exit.code == 0
    assert capsys.readouterr().out.strip() == f"optbench {ob.__version__}"


def test_list_shows_every_registry_with_params_and_tags(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for heading in ("problems (", "methods (", "step-rules ("):
        assert heading in out
    for name in ob.problems.names() + ob.methods.names() + ob.step_rules.names():
        assert f"  {name} " in out
    assert "params: dim=10, condition=10.0, seed=0; tags: convex, smooth, unimodal" in out
    assert "f_opt: known" in out


def test_list_one_kind(capsys):
    assert main(["list", "step-rules"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("step-rules (") and "problems (" not in out


def test_plugin_file_before_or_after_the_command(tmp_path, capsys, scratch_registry_names):
    plugin = tmp_path / "cli_plugin.py"
    plugin.write_text(textwrap.dedent('''
        import optbench as ob
        @ob.register_step_rule("test-cli-halving")
        class Halving(ob.StepRule):
            """alpha_k = 2^-k."""
            def step(self, ctx, state):
                import numpy as np
                return np.full(ctx.n_runs, 0.5 ** ctx.k), state
    '''))
    assert main(["--plugin", str(plugin), "list", "step-rules"]) == 0
    out = capsys.readouterr().out
    assert "test-cli-halving" in out and f"from: file {plugin.resolve()}" in out
    assert main(["list", "step-rules", "--plugin", str(plugin)]) == 0


def test_errors_exit_2_with_a_message_and_no_traceback(tmp_path):
    missing = tmp_path / "nope.py"
    done = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "--plugin", str(missing), "list"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"optbench: error: plugin file {str(missing)!r} does not exist"
    assert "Traceback" not in done.stderr
