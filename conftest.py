"""Root conftest: loads the suite's fixture modules (the plugin itself comes from
the ``pytest11`` entry point of the installed package)."""

pytest_plugins = [
    "fixtures.hardware",
    "fixtures.model",
    "fixtures.dataset",
    "fixtures.engine",
    "fixtures.monitor",
    "fixtures.case",
]
