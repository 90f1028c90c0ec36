"""Every parser of outside input under Hypothesis (the targets: tests/fuzz/targets.py):
never an uncaught exception, never a hang; a clear error or a correct parse. The
``ci`` profile: each target's bounded number of inputs, the same on every run
(longer runs with new inputs: ``benchmarks/scripts/fuzz.py --profile long``)."""

from __future__ import annotations

import pytest

from tests.fuzz.targets import TARGETS, FuzzEnv, Target, run_target


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    env = FuzzEnv(tmp_path_factory.mktemp("fuzz"))
    yield env
    env.close()


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_holds_under_fuzzing(target: Target, fuzz_env: FuzzEnv, record_property):
    tried = run_target(target, fuzz_env, "ci", target.ci_examples)
    record_property("inputs_tried", tried)
    # Hypothesis stops early only when it has tried every input a strategy can make
    assert tried >= min(target.ci_examples, 50)
