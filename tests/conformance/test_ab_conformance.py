"""Interleaved A/B end to end (``pytest benchmarks --endpoint URL_A --ab-endpoint URL_B``),
against two scripted servers whose per-token times are known exactly (ground truth): 10 ms
against 11 ms is a regression of B, 10 ms against 10 ms is none. The results, the console
line and the Markdown report show both sides and the paired ratios with their intervals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fixtures.suites import run_suite
from openaiperf.testing.scripted_server import Script, start_scripted_server

CASE = "summarization.xsum-offline-openai-steady-chat"




def run_ab(project: Path, gap_a_ms: float, gap_b_ms: float, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                  dict, Path]:
    with start_scripted_server(Script(tokens=16, ttft_ms=30.0, gap_ms=gap_a_ms)) as a, \
            start_scripted_server(Script(tokens=16, ttft_ms=30.0, gap_ms=gap_b_ms)) as b:
        suite = run_suite(project, "--max-samples", "4", "--warmup-samples", "2", "--ab-endpoint", b.url,
                          "--no-monitor", "--no-history", *args, endpoint=a.url)
        a_seen, b_seen = a.stats(), b.stats()
    proc, run_dir = suite.proc, suite.run_dir
    assert run_dir is not None, suite.output
    case = suite.document()["cases"][0]
    case["seen"] = (a_seen, b_seen)
    return proc, case, run_dir


def test_a_slower_b_side_is_a_regression(project: Path) -> None:
    proc, case, run_dir = run_ab(project, 10.0, 11.0)
    assert proc.returncode == 1, proc.stdout[-3000:]
    ab = case["ab"]
    assert case["id"] == CASE and case["status"] == "failed" and ab["outcome"] == "regression", ab["summary"]
    assert "tpot_p50" in ab["comparison"]["regressions"]
    tpot = next(m for m in ab["comparison"]["metrics"] if m["metric"] == "tpot_p50")
    assert 1.07 < tpot["ratio"] < 1.13 and tpot["ci_low"] < tpot["ratio"] < tpot["ci_high"]
    assert 9.5 < tpot["baseline"] < 10.5 and 10.5 < tpot["current"] < 11.5  # A's and B's geometric means (ms)
    # the balanced order, the same number of rounds a side, stopped at the first look that decided
    pairs = ab["pairs"]
    assert ab["order"] == "ABBA" * (pairs // 2) + "AB" * (pairs % 2) and pairs in ab["looks"]
    assert len(ab["a"]["rounds"]) == len(ab["b"]["rounds"]) == pairs == len(ab["pair_ratios"]["tpot_p50"])
    assert ab["a"]["target"].startswith("http://127.0.0.1:") and ab["b"]["case_id"] == f"{CASE}[ab=B]"
    # each side warmed up, then measured only its own rounds: no prompt reached both servers twice
    a_seen, b_seen = case["seen"]
    # (a round the client stalled in is measured again: more requests, each with prompts of its own)
    assert a_seen["requests"] >= 2 + 4 * pairs and b_seen["requests"] >= 2 + 4 * pairs
    for seen in (a_seen, b_seen):
        prompts = [json.dumps(r, sort_keys=True) for r in seen["received"]]
        assert len(set(prompts)) == len(prompts)
    assert f"{CASE}: B (http://127.0.0.1:" in proc.stdout and "tpot_p50 +" in proc.stdout
    markdown = (run_dir / "pr-comment.md").read_text()
    assert "### Interleaved A/B: B vs A (paired ratios)" in markdown
    assert next(line for line in markdown.splitlines() if f"`{CASE}` | tpot_p50" in line).count("| regression |")


def test_the_same_server_on_both_sides_is_no_regression(project: Path) -> None:
    proc, case, _ = run_ab(project, 10.0, 10.0)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ab = case["ab"]
    # TTFT (one event per request, 10% tolerance) may stay inconclusive on a loaded machine; it passes
    assert ab["outcome"] != "regression" and case["status"] == "passed", ab["summary"]
    per_token = [m for m in ab["comparison"]["metrics"] if m["metric"] in ("tpot_p50", "tpot_p90", "e2e_p50")]
    assert len(per_token) == 3 and all(m["outcome"] == "no regression" for m in per_token), ab["summary"]
    assert all(0.97 < m["ratio"] < 1.03 for m in per_token)
    assert ab["pairs"] <= ab["max_pairs"] == 8
    if ab["outcome"] == "inconclusive":
        assert ab["settle"] and ab["pairs"] == 8
