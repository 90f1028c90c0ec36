"""Settings declared once (openaiperf.settings): each option's flag, help and default
live in one field of a typed model; the pytest options and ``ob run`` are made from
them, and the run reads them back as typed attributes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from openaiperf.baselines.settings import BaselineSettings
from openaiperf.errors import ConfigError
from openaiperf.options import add_options, options, own_options, setting_options
from openaiperf.report.builtin import HtmlWriter
from openaiperf.run_command import pytest_args, register
from openaiperf.runner.settings import RunSettings
from openaiperf.settings import SelectionSettings, Settings, dest_of, flag_extra, setting

MODELS: tuple[type[Settings], ...] = (SelectionSettings, RunSettings, BaselineSettings, HtmlWriter.Options)
README = Path(__file__).resolve().parents[2] / "README.md"


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser()
    add_options(out.add_argument)
    return out


def help_of(flag: str) -> str:
    return next(o.shown_help for o in options() if o.flag == flag)


def test_every_option_of_a_settings_model_takes_its_default_and_help_from_the_field() -> None:
    declared = {o.flag: o for o in options()}
    for model in MODELS:
        for name, info in model.model_fields.items():
            extra = flag_extra(model, name)
            option = declared[extra["flag"]]
            assert option.help == info.description, name
            if extra["negate"] or option.action in ("store_true", "append"):
                continue
            expected = None if info.default_factory is not None or info.default is PydanticUndefined else info.default
            assert option.default == expected, name


def test_a_default_is_stated_once_and_help_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    alpha = BaselineSettings.model_fields["alpha"]
    assert "default" not in (alpha.description or "")  # the help text does not state it a second time
    assert help_of("--baseline-alpha").endswith("(default 0.05)")
    assert parser().parse_args([]).baseline_alpha == alpha.default == 0.05
    # the field is the one place: changing it changes --help, the parsed default and the typed value
    monkeypatch.setattr(alpha, "default", 0.01)
    assert help_of("--baseline-alpha").endswith("(default 0.01)")
    assert parser().parse_args([]).baseline_alpha == 0.01
    assert BaselineSettings.from_options(vars(parser().parse_args([])).get).alpha == 0.01


def test_settings_are_read_typed_from_the_command_line() -> None:
    given = vars(parser().parse_args(["--monitor-interval", "1s", "--no-monitor", "--stall-limit", "off",
                                      "--salt", "ABC123", "--repeats", "3", "--hw", "cpu", "--task", "a,b",
                                      "--baseline-alpha", "0.01", "--tolerance", "ttft_p90=0.2",
                                      "--baseline-save"])).get
    run = RunSettings.from_options(given)
    assert (run.monitor_interval_s, run.monitor, run.stall_limit_ms, run.salt, run.repeats) == (
        1.0, False, None, "abc123", 3)
    selection = SelectionSettings.from_options(given)
    assert selection.hw == "cpu" and selection.wanted()["task"] == ["a", "b"] and selection.hw_dir == []
    baseline = BaselineSettings.from_options(given)
    assert (baseline.alpha, baseline.tolerances, baseline.save, baseline.compare) == (0.01, {"ttft_p90": 0.2}, "",
                                                                                     None)


def test_defaults_from_the_command_line_are_the_models_own() -> None:
    nothing = vars(parser().parse_args([])).get
    for model in (SelectionSettings, BaselineSettings, HtmlWriter.Options):
        assert model.from_options(nothing) == model()
    run = RunSettings.from_options(nothing)
    assert run.model_dump(exclude={"salt"}) == RunSettings().model_dump(exclude={"salt"})
    assert run.monitor_interval_s == 0.1 and run.stall_limit_ms == 10.0  # the defaults as typed, parsed


def test_a_bad_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--salt: 'xyz' is not a salt"):
        RunSettings.from_options({"salt": "xyz"}.get)
    with pytest.raises(ConfigError, match=r"^--baseline-alpha: expected a significance level"):
        BaselineSettings.from_options({"baseline_alpha": "0.7"}.get)
    with pytest.raises(ConfigError, match=r"repeats \(--repeats\): Input should be greater than or equal to 1, got 0"):
        RunSettings.from_options({"repeats": 0}.get)


def test_ob_run_offers_the_same_flags_and_passes_them_to_pytest() -> None:
    commands = argparse.ArgumentParser().add_subparsers()
    register(commands)
    run = commands.choices["run"]
    flags = {flag for action in run._actions for flag in action.option_strings}
    assert {o.flag for o in options()} <= flags
    args = run.parse_args(["--baseline-alpha", "0.01", "--no-html-report", "--repeats", "3"])
    assert set(pytest_args(args)) >= {"--baseline-alpha=0.01", "--no-html-report", "--repeats=3"}
    assert "--hw=auto" not in pytest_args(args)  # a default is not passed on


def test_the_html_writer_declares_no_html_report() -> None:
    owners = {model.__name__: set(model.flags().values()) for model in MODELS}
    assert "--no-html-report" in owners["HtmlOptions"]
    assert not any("--no-html-report" in flags for name, flags in owners.items() if name != "HtmlOptions")
    assert next(o for o in own_options() if o.flag == "--no-html-report").group == "report"
    report: Any = None
    off = HtmlWriter(HtmlWriter.Options.from_options({"no_html_report": True}.get))
    assert not off.enabled(report) and HtmlWriter().enabled(report)


def test_a_flag_two_models_declare_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Clashing(Settings):
        group = "report"
        mine: int = setting(1, flag="--repeats", help="rounds again")

    import openaiperf.options as options_module

    monkeypatch.setattr(options_module, "settings_models", lambda: [RunSettings, Clashing])
    with pytest.raises(ConfigError, match="--repeats: declared twice"):
        own_options()
    assert [o.flag for o in setting_options(Clashing)] == ["--repeats"]


def test_every_flag_the_readme_option_table_names_exists() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Options"):text.index("### Selection: what runs")]
    named = {flag for row in table.splitlines() if row.startswith("| `")
             for flag in re.findall(r"`(--[a-z0-9-]+)", row.split(" | ")[0])}
    assert named and named <= {o.flag for o in options()}, named - {o.flag for o in options()}
    assert all(dest_of(flag) for flag in named)
