"""Write the two small traces that ship with the package (``src/openaiperf/tasks/data``):
``mooncake_mini.jsonl`` (the Mooncake trace format) and ``burstgpt_mini.csv`` (the
BurstGPT format), made up for this project with a seeded generator and sized for
SmolLM2-135M on a CPU. Their checksums are in the task files; rerunning this script
writes the same bytes.

Mooncake: 48 requests over about 30 s, arrivals in bursts (gamma gaps, shape 0.5,
mean 0.9 s); hash ids are blocks of 128 tokens. Six "documents" (2-4 blocks each)
open most prompts, so requests share prefixes as a trace of chat and RAG traffic
does; a third of the requests continue an earlier one (its hash ids, then new ones:
the next turn of a conversation), the rest end with blocks of their own. Inputs
are cut to 64-768 tokens, outputs 8-48 tokens.

BurstGPT: 48 rows over about 30 s, gamma gaps (shape 0.5, mean 0.6 s), models
ChatGPT and GPT-4, conversation and API logs, request tokens 24-640 (log-normal),
response tokens 8-64, and four failed requests (0 response tokens, as BurstGPT
records failures).

    python benchmarks/scripts/write_mini_traces.py [--out src/openaiperf/tasks/data]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

BLOCK = 128


def mooncake(rng: np.random.Generator) -> list[dict]:
    next_id = 0

    def fresh(count: int) -> list[int]:
        nonlocal next_id
        ids = list(range(next_id, next_id + count))
        next_id += count
        return ids

    documents = [fresh(int(rng.integers(2, 5))) for _ in range(6)]
    t, rows, earlier = 0.0, [], []
    for index in range(48):
        t += float(rng.gamma(0.5, 0.9 / 0.5)) if index else 0.0
        kind = rng.random()
        if earlier and kind < 0.33:
            base = earlier[int(rng.integers(len(earlier)))]
            hash_ids = base + fresh(int(rng.integers(1, 3)))
        elif kind < 0.85:
            hash_ids = documents[int(rng.integers(len(documents)))] + fresh(int(rng.integers(0, 2)))
        else:
            hash_ids = fresh(int(rng.integers(1, 4)))
        hash_ids = hash_ids[:6]
        length = int(min(max((len(hash_ids) - 1) * BLOCK + int(rng.integers(16, BLOCK + 1)), 64), 768))
        hash_ids = hash_ids[:-(-length // BLOCK)]
        earlier.append(hash_ids)
        rows.append({"timestamp": int(round(t * 1000)), "input_length": length,
                     "output_length": int(rng.integers(8, 49)), "hash_ids": hash_ids})
    return rows


def burstgpt(rng: np.random.Generator) -> list[list]:
    t, rows = 0.0, []
    failed = set(rng.choice(48, size=4, replace=False).tolist())
    for index in range(48):
        t += float(rng.gamma(0.5, 0.6 / 0.5)) if index else 0.0
        model = "ChatGPT" if rng.random() < 0.7 else "GPT-4"
        request = int(min(max(rng.lognormal(np.log(180), 0.7), 24), 640))
        response = 0 if index in failed else int(rng.integers(8, 65))
        log = "Conversation log" if rng.random() < 0.6 else "API log"
        rows.append([round(t, 3), model, request, response, request + response, log])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("src/openaiperf/tasks/data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "mooncake_mini.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        for row in mooncake(np.random.default_rng(20261121)):
            handle.write(json.dumps(row, separators=(", ", ": ")) + "\n")
    with (args.out / "burstgpt_mini.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"])
        writer.writerows(burstgpt(np.random.default_rng(20261122)))


if __name__ == "__main__":
    main()
