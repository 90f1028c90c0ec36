"""The pytest plugin (the ``pytest11`` entry point ``openaiperf``): a benchmark
suite from nothing but a matrix file.

In a folder holding a ``matrix.yaml``, ``pytest --hw cpu`` runs its cases: the
plugin collects matrix files itself and ships the case test, its fixtures and
its reports. One module per concern:

- :mod:`.options`: the options (each a field of a settings model, :mod:`openaiperf.settings`;
  :mod:`openaiperf.options` makes them; ``ob run`` has the same);
- :mod:`.session`: :class:`BenchSession` (the typed settings, read once; hardware, registries,
  run folder, results) and the start-up checks;
- :mod:`.collection`: matrix files -> cases (command-line additions, names,
  narrowing, ordering); :mod:`openaiperf.selection` holds the selection rule;
- :mod:`.preflight`: dataset checks before any model loads;
- :mod:`.fixtures`: ``bench_session``, ``hardware``, ``system_info``,
  ``model_weights``, ``model_spec``, ``task``, ``engine_pool``, ``engine``,
  ``run_settings``, ``case_runner``;
- :mod:`.progress`: the live progress line of each case on a terminal;
- :mod:`.cases`: the shipped tests (``test_llm``, ``test_calibration``);
- :mod:`.summary`: the terminal summary; :mod:`.reporting`: the report writers
  at session end, pytest-xdist and GPU pinning, pytest-benchmark's JSON.

Registrations a session's plugins and ``conftest.py`` files make (an engine, a
scenario...) end with the session.
"""

from __future__ import annotations

import pytest

from openaiperf.plugin.session import REGISTRY_STATE, SESSION_KEY, BenchSession, get_session
from openaiperf.registry import REGISTRIES, all_registries

__all__ = ["SESSION_KEY", "BenchSession", "get_session"]

pytest_plugins = [
    "openaiperf.plugin.options",
    "openaiperf.plugin.session",
    "openaiperf.plugin.collection",
    "openaiperf.plugin.preflight",
    "openaiperf.plugin.fixtures",
    "openaiperf.plugin.progress",
    "openaiperf.plugin.summary",
]


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    early_config.stash[REGISTRY_STATE] = {axis: registry.snapshot() for axis, registry in all_registries().items()}


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    for axis, state in config.stash.get(REGISTRY_STATE, {}).items():
        REGISTRIES[axis].restore(state)
