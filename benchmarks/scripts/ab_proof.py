"""Does interleaved A/B cry wolf, and does it catch a real slowdown, on this machine?

Every comparison is one case of a real pytest session, run as a user runs it
(``pytest benchmarks --endpoint URL_A --ab-endpoint URL_B``) through the ``openai``
engine against the scripted server (a test instrument: no model, a known per-token gap
``--gap-ms``; ground truth). A session holds ``--comparisons`` cases (one per model name
of a generated models file, all served by the same servers), each an independent A/B
comparison with its own warmup of both sides and its own interleaved rounds, stopped by the
sequential rule at the first look that decides (``--ab-rounds`` a side at most):

- **A/A**: A and B are two scripted servers with the same script; a "regression" is a
  false alarm;
- **A/B**: B's every gap after the first token is ``--slowdown`` longer (default 10%);
  a "regression" is a detection.

Inconclusive verdicts are counted apart (they pass, and fail only with
``--baseline-strict``). The table gives the counts, the rounds a side the comparisons
took, and the load of the machine before and after each session (the timing source is
the scripted server, so a loaded machine adds noise to the rounds but not to the script).

    python benchmarks/scripts/ab_proof.py --comparisons 100
    python benchmarks/scripts/ab_proof.py --analyze DIR      # the table again, from recorded sessions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

MATRIX = """
suites:
  - name: ab-proof
    tasks: [summarization.xsum]
    scenarios: [offline]
    engines: [openai]
    models: [{models}]
"""


def model_names(count: int) -> list[str]:
    return [f"proof-{i:03d}" for i in range(count)]


def write_project(work: Path, args: argparse.Namespace) -> None:
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    tokenizer = write_word_tokenizer(work / "word-tokenizer")
    (work / "benchmarks").mkdir(parents=True, exist_ok=True)
    names = model_names(args.comparisons)
    (work / "benchmarks" / "matrix.yaml").write_text(MATRIX.format(models=", ".join(names)))
    (work / "models.yaml").write_text("".join(f"{name}:\n  source: {tokenizer}\n  parameters: 1000000\n"
                                              "  dtype: float32\n  chat: true\n" for name in names))


def run_session(work: Path, label: str, gap_b_ms: float, args: argparse.Namespace) -> dict[str, Any]:
    """One pytest session of every comparison against two fresh scripted servers."""
    from openaiperf.testing.scripted_server import Script, start_scripted_server

    report_dir = work / "runs" / label
    script = {"tokens": args.tokens, "ttft_ms": args.ttft_ms}
    load_before, started = os.getloadavg()[0], time.perf_counter()
    with start_scripted_server(Script(**script, gap_ms=args.gap_ms)) as a, \
            start_scripted_server(Script(**script, gap_ms=gap_b_ms)) as b:
        command = [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--model-file", "models.yaml",
                   "--max-samples", str(args.samples), "--warmup-samples", str(args.samples), "--endpoint", a.url,
                   "--ab-endpoint", b.url, "--ab-rounds", str(args.ab_rounds), "--report-dir", str(report_dir),
                   "--no-monitor", "--no-history", "--no-html-report", "-p", "no:cacheprovider", "-q",
                   "-p", "no:randomly", "--benchmark-disable"]
        completed = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False,
                                   env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    results = sorted(report_dir.glob("*/results.json"))
    entry = {"label": label, "gap_b_ms": gap_b_ms, "returncode": completed.returncode,
             "seconds": round(time.perf_counter() - started, 1), "load_before": round(load_before, 2),
             "load_after": round(os.getloadavg()[0], 2), "results": str(results[-1]) if results else None}
    if not results:
        entry["output_tail"] = (completed.stdout + completed.stderr)[-3000:]
    return entry


def record(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    write_project(work, args)
    sessions = []
    for label, gap_b in (("A-A", args.gap_ms), ("A-B", args.gap_ms * (1 + args.slowdown))):
        entry = run_session(work, label, gap_b, args)
        sessions.append(entry)
        (work / "sessions.json").write_text(json.dumps({"args": vars(args), "sessions": sessions}, indent=2,
                                                       default=str))
        print(f"{label}: {entry['seconds']} s, load {entry['load_before']} -> {entry['load_after']}", flush=True)
        if entry.get("output_tail"):
            print(entry["output_tail"], flush=True)
    return sessions


def analyze(work: Path) -> str:
    recorded = json.loads((work / "sessions.json").read_text())
    args = recorded["args"]
    lines = [f"{args['comparisons']} comparisons a session, scripted server TTFT {args['ttft_ms']:g} ms, "
             f"{args['tokens']} tokens, gap {args['gap_ms']:g} ms (B of A/B: +{100 * args['slowdown']:.0f}%), "
             f"{args['samples']} requests a round, at most {args['ab_rounds']} rounds a side", "",
             "| session | regression | no regression | inconclusive | not compared | rounds a side: mean (max) | "
             "tpot_p50 B/A: median | wall time | load before -> after |",
             "|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for session in recorded["sessions"]:
        cases = json.loads(Path(session["results"]).read_text())["cases"] if session.get("results") else []
        entries = [c["ab"] for c in cases if c.get("ab")]
        counts = {o: sum(e["outcome"] == o for e in entries) for o in ("regression", "no regression", "inconclusive")}
        rounds = [e["pairs"] for e in entries]
        ratios = [m["ratio"] for e in entries for m in e["comparison"]["metrics"]
                  if m["metric"] == "tpot_p50" and m["ratio"] is not None]
        kind = "false alarms" if session["label"] == "A-A" else "caught"
        lines.append(
            f"| {session['label']} ({kind}: regression) | **{counts['regression']} / {len(entries)}** | "
            f"{counts['no regression']} | {counts['inconclusive']} | {len(cases) - len(entries)} | "
            f"{statistics.mean(rounds) if rounds else 0:.1f} ({max(rounds, default=0)}) | "
            f"{statistics.median(ratios) if ratios else float('nan'):.3f} | {session['seconds']} s | "
            f"{session['load_before']} -> {session['load_after']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=100, help="A/B comparisons (cases) a session")
    parser.add_argument("--slowdown", type=float, default=0.10, help="how much slower B's per-token gap is")
    parser.add_argument("--gap-ms", type=float, default=10.0)
    parser.add_argument("--ttft-ms", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4, help="requests a round (and warmup requests)")
    parser.add_argument("--ab-rounds", type=int, default=8)
    parser.add_argument("--work", type=Path, help="where the sessions are recorded (default: a new temp folder)")
    parser.add_argument("--analyze", type=Path, metavar="DIR", help="print the table of recorded sessions")
    args = parser.parse_args(argv)
    if args.analyze:
        print(analyze(args.analyze))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="ab-proof-"))
    print(f"recording in {work}", flush=True)
    record(work, args)
    print(analyze(work))


if __name__ == "__main__":
    main()
