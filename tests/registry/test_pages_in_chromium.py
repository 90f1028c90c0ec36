"""The registry's pages as a browser shows them: headless Chromium loads each page from
the loopback service (read without a token: ``public_read``) and takes a screenshot,
kept in the test's folder (and copied to ``$OPENAIPERF_SCREENSHOT_DIR`` when set); the
DOM Chromium built is checked for what each page must show. Skips, saying why, where
Chromium is not installed (``scripts/install.sh`` installs Debian's ``chromium``)."""

from __future__ import annotations

import pytest

from tests.registry.conftest import MISSING_EXTRA

if MISSING_EXTRA:
    pytest.skip(MISSING_EXTRA, allow_module_level=True)

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from openaiperf.history.store import HistoryStore
from openaiperf.registry_service.service import RegistryService
from tests.registry.conftest import make_run, pack, serve

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install.sh installs "
                                                          "Debian's chromium where apt-get can be used)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-first-run", "--hide-scrollbars")
CASE = "summarization.xsum-offline-hf-m"


def judged_run(root: Path, name: str, created: str, ttft_ms: float) -> Path:
    """A run whose hf case was judged against a 20 ms-TTFT baseline by the real gate (so
    its trend carries real verdicts), beside a vllm case."""
    from fixtures.results import SYSTEM, measured_case
    from openaiperf.baselines.compare import baseline_from_case
    from openaiperf.baselines.fingerprint import configuration
    from openaiperf.baselines.gate import GateSettings, judge
    from openaiperf.report.results import read_results, write_results

    run_dir = make_run(root, name, created, ttft_ms=ttft_ms)
    run = read_results(run_dir / "results.json")
    case = measured_case(run_dir, CASE, ttft_ms=ttft_ms, rounds=4)
    case.fingerprint = configuration(case, system=SYSTEM, hardware="cpu", device="cpu", openaiperf_version="0.1.0")
    reference = measured_case(run_dir, CASE + "-baseline", ttft_ms=20.0, rounds=4)
    outcome = judge(baseline_from_case(reference, case.fingerprint), baseline_from_case(case), GateSettings(),
                    task_spec=None)
    case.baseline = outcome.to_result()
    if outcome.failures:
        case.failures += outcome.failures
        case.status = "failed"
    run.cases[0] = case
    write_results(run_dir / "results.json", run)
    return run_dir


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """Four full runs (each with a regression verdict and an INVALID case) and six judged
    ones, submitted; served with pages readable without a token."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}").open()
    service = RegistryService(store, tmp_path / "data")
    token = service.create_token("ci runner h100-1", ["submit"], None)[0]
    for day in range(1, 5):
        run_dir = make_run(tmp_path / "reports", f"full-{day}", f"2026-12-0{day}T09:00:00+00:00", full=True)
        service.submit(pack(run_dir, tmp_path / f"full-{day}.tgz"), ["nightly", "cpu"], f"nightly {day}", token)
    for day, ttft in ((1, 20.0), (2, 20.3), (3, 19.6), (4, 27.0), (5, 20.1), (6, 21.0)):
        run_dir = judged_run(tmp_path / "reports", f"plain-{day}", f"2026-12-0{day}T12:00:00+00:00", ttft)
        service.submit(pack(run_dir, tmp_path / f"plain-{day}.tgz"), ["pr"], "", token)
    url, server = serve(service, public_read=True)
    try:
        yield url
    finally:
        server.stop()
        store.close()


def chromium(tmp_path: Path, url: str, screenshot: Path, *, height: int = 1000) -> str:
    """Screenshot ``url`` into ``screenshot``; the DOM after scripts ran."""
    profile = tmp_path / "chromium-profile"
    common = [CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000"]
    subprocess.run([*common, f"--window-size=1400,{height}", f"--screenshot={screenshot}", url],
                   check=True, capture_output=True, timeout=90)
    dom = subprocess.run([*common, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=90)
    return dom.stdout


def looks_drawn(png: Path) -> bool:
    """A real page, not a blank one: many colours in the screenshot."""
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > 20


def test_pages_in_headless_chromium(site: str, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    trend = urlencode({"case": CASE, "metric": "ttft_p50", "hardware": "cpu"})
    board = urlencode({"task": "summarization.xsum", "scenario": "offline", "hardware": "cpu", "metric": "ttft_p50"})
    pages = {
        "runs": (f"{site}/?tags=nightly", ["full-4", "full-1", "nightly 4"], ["plain-1"]),
        "run": (f"{site}/runs/4", ["Run 4: full-4", "summarization.xsum-server-hf-m[qps_target=2]", "INVALID",
                                   "▲ regression", "ci runner h100-1",
                                   "<iframe"], []),
        "trend": (f"{site}/trend?{trend}", ['data-verdict="regression"', 'data-verdict="inconclusive"',
                                            "plain-1", "plain-6"], ["full-1"]),
        "leaderboard": (f"{site}/leaderboard?{board}", ["plain-3", "summarization.xsum · offline · cpu"],
                        ["summarization.xsum-interactive-vllm-m", "calibration ·"]),
        "api": (f"{site}/docs", ["/api/v1/submissions", "opblock"], []),
    }
    for name, (url, present, absent) in pages.items():
        png = shots / f"registry-{name}.png"
        dom = chromium(tmp_path, url, png, height=1600 if name == "run" else 1000)
        for text in present:
            assert text in dom, f"{name}: {text!r} not on the page"
        for text in absent:
            assert text not in dom, f"{name}: {text!r} on the page"
        assert looks_drawn(png), f"{name}: the screenshot is blank"
        if os.environ.get("OPENAIPERF_SCREENSHOT_DIR"):
            shutil.copyfile(png, Path(os.environ["OPENAIPERF_SCREENSHOT_DIR"]) / png.name)
    # the leaderboard ranks the best valid TTFT per engine and model; the INVALID interactive case is not ranked
    report = chromium(tmp_path, f"{site}/runs/1/report", shots / "registry-report.png")
    assert "summarization.xsum-server-hf-m[qps_target=2]" in report
