"""Perplexity of the built-in corpus through the hf engine (transformers) and
through vLLM's prompt logprobs (openaiperf.engines.vllm_scoring), on the same
token windows; prints both and their ratio.

    python benchmarks/scripts/perplexity_hf_vs_vllm.py [--max-windows N] [--hf-dtype float32]
"""

from __future__ import annotations

import argparse
import math
import os
import time


def perplexity(logprobs: list[list[float]], targets: list[int]) -> float:
    nll = -sum(sum(lp[-t:]) for lp, t in zip(logprobs, targets))
    return math.exp(nll / sum(targets))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-windows", type=int, default=None)
    parser.add_argument("--hf-dtype", default="float32")
    parser.add_argument("--vllm-dtype", default="bfloat16")
    args = parser.parse_args()

    from openaiperf.engines import EngineContext
    from openaiperf.engines.hf import HFEngine
    from openaiperf.engines.vllm_scoring import score_windows
    from openaiperf.hardware import load_profile
    from openaiperf.models import get_model, resolve_weights
    from openaiperf.tasks import load_task_specs
    from openaiperf.tasks.perplexity import PerplexityTask

    model = get_model("smollm2-135m")
    weights = resolve_weights(model)
    task = PerplexityTask(load_task_specs()["perplexity.corpus"], model=model)
    samples = task.load_samples(args.max_windows, None)
    windows = [s.fields["token_ids"] for s in samples]
    targets = [s.fields["target_tokens"] for s in samples]
    print(f"{len(windows)} windows, {sum(targets)} scored tokens")

    hf = HFEngine(EngineContext(model=model, weights=weights, hardware=load_profile("cpu"), dtype=args.hf_dtype))
    hf.prepare()
    t0 = time.perf_counter()
    hf_logprobs = [lp for i in range(0, len(windows), 4) for lp in hf.score(windows[i:i + 4])]
    hf_s = time.perf_counter() - t0
    hf.teardown()

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM

    llm = LLM(model=weights, dtype=args.vllm_dtype, max_model_len=2048, enforce_eager=True,
              gpu_memory_utilization=0.5)
    t0 = time.perf_counter()
    vllm_logprobs = score_windows(llm, windows)
    vllm_s = time.perf_counter() - t0

    hf_ppl, vllm_ppl = perplexity(hf_logprobs, targets), perplexity(vllm_logprobs, targets)
    print(f"hf ({args.hf_dtype}):   perplexity {hf_ppl:.4f}  ({sum(targets) / hf_s:.1f} scored tokens/s)")
    print(f"vllm ({args.vllm_dtype}): perplexity {vllm_ppl:.4f}  ({sum(targets) / vllm_s:.1f} scored tokens/s)")
    print(f"ratio vllm/hf: {vllm_ppl / hf_ppl:.4f}")


if __name__ == "__main__":
    main()
