"""Installed the ordinary way: the package built as a wheel, installed (not
editable) with its ``openai`` extra into a new, clean virtual environment, then
run as users run it, from a folder outside the repository that holds nothing but
a matrix file and a models file, with ``--hw cpu`` and ``--hw auto``.

Every other test runs the editable install, where the repository's own folders
are at hand; this one proves that what the plugin reads (hardware profiles,
tasks, schemas, migrations, templates) ships inside the wheel. The cases run
through the real ``openai`` engine against the scripted server (a stand-in
OpenAI-compatible server with known timings), started from the clean
environment too. A report writer whose extra is not installed (HTML: jinja2)
is left out with a line saying how to install it, never a crash.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MATRIX = """
suites:
  - tasks: [synthetic.random]
    scenarios: [offline, server]
    engines: [openai]
    models: [stub]
    max_samples: 3
    scenario_options:
      server: {qps_target: 20, warmup_requests: 1}
"""


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def source_copy(target: Path) -> Path:
    """The repository's files as a clone has them (tracked and not ignored), so the wheel
    is built from what is committed and nothing of the repository's build folders leaks in."""
    listed = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a new virtual environment holding the wheel with its ``openai`` extra."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the repository's files")
    root = tmp_path_factory.mktemp("wheel")
    source = source_copy(root / "source")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(root / "dist"), str(source)], cwd=root)
    (wheel,) = (root / "dist").glob("openaiperf-*.whl")
    run([sys.executable, "-m", "venv", str(root / "venv")], cwd=root)
    python = root / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", f"{wheel}[openai]"], cwd=root)
    return python


def test_the_wheel_runs_a_matrix_folder_outside_the_repository(clean_python: Path,
                                                               tmp_path: Path) -> None:
    shown = run([str(clean_python), "-c", "import openaiperf; print(openaiperf.__file__)"], cwd=tmp_path)
    assert "site-packages" in shown.stdout and str(REPO) not in shown.stdout  # not the checkout
    folder = tmp_path / "suite"
    folder.mkdir()
    run([str(clean_python), "-c", "import sys; from pathlib import Path; "
         "from openaiperf.testing.word_tokenizer import write_word_tokenizer; "
         "write_word_tokenizer(Path(sys.argv[1]))", str(tmp_path / "tokenizer")], cwd=tmp_path)
    (folder / "matrix.yaml").write_text(MATRIX)
    (folder / "models.yaml").write_text(f"stub:\n  source: {tmp_path / 'tokenizer'}\n  parameters: 1000000\n"
                                        "  dtype: float32\n  chat: true\n")
    server = subprocess.Popen([str(clean_python), "-c", "import sys, time\n"
                               "from openaiperf.testing.scripted_server import Script, start_scripted_server\n"
                               "with start_scripted_server(Script(ttft_ms=5.0, gap_ms=1.0)) as s:\n"
                               "    print(s.url, flush=True)\n"
                               "    sys.stdin.read()\n"],
                              cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        for hardware in ("cpu", "auto"):
            done = run([str(clean_python), "-m", "pytest", "--matrix", "matrix.yaml", "--model-file", "models.yaml",
                        "--hw", hardware, "--endpoint", url, "--report-dir", f"out-{hardware}", "--no-history",
                        "--no-monitor", "-p", "no:cacheprovider"], cwd=folder)
            assert "2 passed" in done.stdout, done.stdout[-3000:]
            # the HTML writer's extra is not installed: said, not crashed
            assert "html report not written: jinja2 is not installed" in done.stdout
            (results,) = (folder / f"out-{hardware}").glob("*/results.json")
            document = json.loads(results.read_text())
            assert document["config"]["hardware_profile"]["name"] == "cpu"  # the profile shipped in the wheel
            assert {c["status"] for c in document["cases"]} == {"passed"}
            assert all(c["metrics"]["requests"]["value"] == 3 for c in document["cases"])
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
