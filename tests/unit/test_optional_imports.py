"""The plugin and the command line import without any optional extra: a module-level
import of an extra's library (matplotlib, jinja2, allure, Ray, FastAPI, psycopg, vLLM,
ROUGE) in what the plugin loads at start-up breaks every run of a plain install
(``pip install openaiperf``), where such a writer, engine or store is left out with its
install hint instead. The wheel test (tests/e2e/test_wheel_install.py) proves it on a
real clean install, slowly; this catches it in the quick subset."""

from __future__ import annotations

import subprocess
import sys

EXTRAS = ("matplotlib", "jinja2", "markupsafe", "allure", "allure_pytest", "ray", "fastapi", "uvicorn", "starlette",
          "httpx", "psycopg", "vllm", "rouge_score", "pynvml", "amdsmi", "datasets")

#: what pytest loads through the plugin's entry point, and the `ob` command
START_UP = ("openaiperf.plugin", "openaiperf.plugin.fixtures", "openaiperf.plugin.cases",
            "openaiperf.plugin.collection", "openaiperf.plugin.reporting", "openaiperf.report.builtin",
            "openaiperf.cli", "openaiperf.runner", "openaiperf.scenarios.server", "openaiperf.loadgen.workers",
            "openaiperf.history.store", "openaiperf.engines.openai", "openaiperf.engines.hf", "openaiperf.engines.vllm")


def test_the_plugin_and_the_cli_import_without_the_optional_extras():
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in EXTRAS)
    imports = "; ".join(f"importlib.import_module({name!r})" for name in START_UP)
    done = subprocess.run([sys.executable, "-c", f"import importlib, sys; {blocked}; {imports}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_check_can_fail():
    """A module that imports an extra at module level is caught (the check is not vacuous)."""
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['matplotlib'] = None; "
                                                 "import openaiperf.report.figures"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "matplotlib" in done.stderr
