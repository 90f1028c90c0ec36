"""``ob baseline compare`` reads the gate's flags through the one settings model."""

from __future__ import annotations

import pytest

from openaiperf.baselines.commands import compare_settings
from openaiperf.baselines.settings import BaselineSettings
from openaiperf.cli import build_parser, main


def parsed(*words: str):
    return build_parser().parse_args(["baseline", "compare", "RUN_A", "RUN_B", *words])


def test_the_defaults_come_from_the_settings_model():
    settings = compare_settings(parsed())
    model = BaselineSettings()
    assert (settings.alpha, settings.drift, settings.tolerances) == (model.alpha, model.drift, {})
    assert settings.force is False and settings.strict is False


def test_the_flags_as_this_command_spells_them_reach_the_gate():
    settings = compare_settings(parsed("--alpha", "0.01", "--drift", "0", "--tolerance", "ttft_p90=0.2",
                                       "--force", "--strict"))
    assert (settings.alpha, settings.drift, settings.tolerances) == (0.01, 0.0, {"ttft_p90": 0.2})
    assert settings.force and settings.strict


@pytest.mark.parametrize(("words", "flag"), [(("--alpha", "0.7"), "--alpha"), (("--drift", "lots"), "--drift"),
                                             (("--tolerance", "ttft_p90"), "--tolerance")])
def test_a_bad_value_names_the_flag_as_this_command_spells_it(tmp_path, capsys, words, flag):
    # checked before either side is read: the folders need not exist
    assert main(["baseline", "compare", str(tmp_path / "a"), str(tmp_path / "b"), *words]) == 2
    err = capsys.readouterr().err
    assert f"{flag}:" in err and "--baseline-" not in err
