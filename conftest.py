"""Registers this repository's shared fixtures and test doubles (``fixtures/``) for
``tests/`` and ``benchmarks/``. The fixtures that provision the device, the model
and the engine are not here: they ship in the plugin (``openaiperf.plugin``), so
that the installed plugin works from any repository."""

pytest_plugins = ["fixtures.servers"]
