import textwrap
import warnings
from importlib.metadata import EntryPoint

import pytest

import optbench as ob
from optbench import registry as registry_module
from optbench.registry import Registry
from optbench.errors import ParameterError, RegistryError
def test_builtins_are_registered_and_created_with_params():
    assert {"sphere", "quadratic"} <= set(ob.problems.names())
    assert "gd" in ob.methods.names() and "constant" in ob.step_rules.names()
    quadratic = ob.problems.create("quadratic", dim=4, condition=100.0)
    assert quadratic.dim == 4 and quadratic.A.shape == (4, 4)
    assert ob.step_rules.create("constant", lr=0.5).lr == 0.5


def test_describe_gives_params_defaults_tags_and_doc():
    info = ob.problems.describe("quadratic")
    assert info["params"]["condition"] == {"default": 10.0, "required": False, "type": "float"}
    assert "convex" in info["tags"] and "0.5 x.A.x - b.x" in info["doc"]


def test_unknown_name_lists_registered_names_and_closest_match():
    with pytest.raises(RegistryError) as err:
        ob.problems.create("quadratc")
    message = str(err.value)
    assert "unknown problem 'quadratc'" in message
    assert "Did you mean 'quadratic'?" in message
    assert "sphere" in message and "quadratic" in message


def test_unknown_parameter_names_it_and_lists_valid_ones_with_defaults():
    with pytest.raises(ParameterError) as err:
        ob.problems.create("quadratic", conditon=5.0)
    message = str(err.value)
    assert "no parameter 'conditon'" in message and "Did you mean 'condition'?" in message
    assert "dim: int = 10" in message and "condition: float = 10.0" in message and "seed: int = 0" in message


def test_mistyped_parameter_names_expected_type():
    with pytest.raises(ParameterError) as err:
        ob.problems.create("quadratic", dim="ten")
    assert "parameter 'dim' expects int, got str 'ten'" in str(err.value)
    with pytest.raises(ParameterError, match="expects int, got bool"):
        ob.problems.create("quadratic", dim=True)
    with pytest.raises(ParameterError, match="expects float, got str"):
        ob.step_rules.create("constant", lr="fast")
    ob.step_rules.create("constant", lr=1)  # an int is a valid float


def test_invalid_value_is_a_parameter_error_naming_the_object():
    with pytest.raises(ParameterError, match="step rule 'constant': lr must be a number > 0, got -1"):
        ob.step_rules.create("constant", lr=-1.0)


def test_literal_parameters_list_their_choices(scratch_registry_names):
    from typing import Literal

    @ob.register_step_rule("test-literal")
    class WithChoice(ob.StepRule):
        def __init__(self, variant: Literal["long", "short"] = "long"):
            self.variant = variant

    with pytest.raises(ParameterError, match="expects 'long' \\| 'short', got str 'medium'"):
        ob.step_rules.create("test-literal", variant="medium")


def test_two_sources_claiming_one_name_is_an_error_naming_both(scratch_registry_names):
    class First(ob.Method):
        pass

    class Second(ob.Method):
        pass

    ob.methods.register("twice", First, "plugin A")
    with pytest.raises(RegistryError) as err:
        ob.methods.register("twice", Second, "plugin B")
    assert "method 'twice' is registered twice: by plugin A and by plugin B" in str(err.value)


def test_load_plugin_file_registers_and_reloading_is_harmless(tmp_path, scratch_registry_names):
    plugin = tmp_path / "myplugin.py"
    plugin.write_text(textwrap.dedent('''
        import optbench as ob

        @ob.register_method("test-plugin-method")
        class Half(ob.Method):
            """D = -g / 2."""
            def direction(self, X, G, state, k):
                return -0.5 * G, state
    '''))
    ob.load_plugin(plugin)
    ob.load_plugin(plugin)
    assert "test-plugin-method" in ob.methods.names()
    assert ob.methods.source("test-plugin-method") == f"file {plugin.resolve()}"
    result = ob.run("sphere", "test-plugin-method", {"name": "constant", "lr": 1.0}, x0=[1.0, -2.0], max_iter=3)
    # x_{k+1} = x_k - 0.5 * 2 x_k = 0 after one step
    assert result.x.tolist() == [[0.0, 0.0]]


def test_load_plugin_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ob.load_plugin(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ImportError, match="broken.py' failed to import: RuntimeError: boom"):
        ob.load_plugin(broken)


def _fake_entry_points(monkeypatch, eps):
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [ep for ep in eps if ep.group == group])


def test_entry_point_plugins_load_lazily_and_a_broken_one_is_reported(monkeypatch, tmp_path):
    module = tmp_path / "ep_plugin_mod.py"
    module.write_text(textwrap.dedent('''
        import optbench as ob
        class Good(ob.Method):
            def direction(self, X, G, state, k):
                return -G, state
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint("good-method", "ep_plugin_mod:Good", "optbench.methods"),
        EntryPoint("broken-method", "no_such_module_xyz:Thing", "optbench.methods"),
    ]
    _fake_entry_points(monkeypatch, eps)
    fresh = Registry("method", "optbench.methods")
    with pytest.warns(ob.PluginWarning, match="'broken-method'.*failed to import"):
        names = fresh.names()
    assert "good-method" in names and "broken-method" not in names
    assert "ModuleNotFoundError" in fresh.plugin_errors["broken-method"]
    assert "entry point 'good-method'" in fresh.source("good-method")


def test_entry_point_clashing_with_a_builtin_names_both(monkeypatch, tmp_path):
    module = tmp_path / "ep_clash_mod.py"
    module.write_text("import optbench as ob\nclass Other(ob.Method):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, [EntryPoint("gd", "ep_clash_mod:Other", "optbench.methods")])
    fresh = Registry("method", "optbench.methods")
    fresh.register("gd", ob.methods.get("gd"))
    with pytest.raises(RegistryError, match="method 'gd' is registered twice: by optbench.methods.GD and by entry point 'gd'"):
        fresh.names()


def test_resolve_accepts_names_dicts_pairs_and_instances():
    from optbench.registry import resolve

    assert resolve(ob.step_rules, "constant").lr == 0.01
    assert resolve(ob.step_rules, {"name": "constant", "lr": 0.2}).lr == 0.2
    assert resolve(ob.step_rules, ("constant", {"lr": 0.3})).lr == 0.3
    rule = ob.step_rules.create("constant", lr=0.4)
    assert resolve(ob.step_rules, rule) is rule
    with pytest.raises(ParameterError, match="needs a 'name' key"):
        resolve(ob.step_rules, {"lr": 0.1})


def test_the_catalogue_declares_exactly_what_the_builtin_modules_register():
    """Every declared built-in resolves to the class its module's decorator registers under that name, and every
    name those modules register is declared (a built-in missing from the catalogue would be unknown until imported)."""
    import importlib

    from optbench.catalog import BUILTINS

    kinds = {"problem": ob.problems, "method": ob.methods, "step rule": ob.step_rules}
    for kind, modules in BUILTINS.items():
        registry = kinds[kind]
        declared = {}
        for module, entries in modules.items():
            importlib.import_module(module)
            declared.update((entry.split(":")[0], (module, entry.split(":")[1])) for entry in entries.split())
        for name, (module, qualname) in declared.items():
            cls = registry.get(name)
            assert (cls.__module__, cls.__qualname__, cls.name) == (module, qualname, name)
        builtin = {name for name in registry.names()
                   if registry._entries[name].cls is not None and registry._entries[name].cls.__module__ in modules}
        assert builtin == set(declared)


def test_a_declared_name_whose_module_does_not_register_it_is_an_error():
    scratch = Registry("problem", "optbench.test_no_group")
    scratch.declare("nowhere", "optbench.objectives.data:NoSuchClass")
    assert scratch.names() == ["nowhere"]
    with pytest.raises(RegistryError, match="declared as optbench.objectives.data:NoSuchClass"):
        scratch.get("nowhere")
