"""The installed plugin in a folder holding nothing but a matrix file: ``pytest
--matrix matrix.yaml --hw cpu`` runs its case on the embedded model (no conftest,
no test file, no models file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

MATRIX = """
suites:
  - tasks: [synthetic.random]
    scenarios: [offline]
    engines: [hf]
    models: [smollm2-135m]
    max_samples: 2
"""


@pytest.mark.slow
def test_a_matrix_file_alone_runs_on_the_embedded_model(tmp_path: Path):
    (tmp_path / "matrix.yaml").write_text(MATRIX)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "pytest", "--matrix", "matrix.yaml", "--hw", "cpu",
                           "--warmup-samples", "0", "--no-monitor", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "matrix.yaml ." in done.stdout and "1 passed" in done.stdout
    (results,) = (tmp_path / "reports").glob("*/results.json")
    (case,) = json.loads(results.read_text())["cases"]
    assert case["id"] == "synthetic.random-offline-hf-smollm2-135m" and case["status"] == "passed"
    assert case["metrics"]["requests"]["value"] == 2 and case["metrics"]["output_tokens"]["value"] > 0
