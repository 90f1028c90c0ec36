"""The environment of the vLLM engines and servers the end-to-end tests start.

They check what the paths deliver (records, metrics, logprobs), not vLLM's speed, on a
2-core machine. vLLM's defaults there cost minutes: its engine core and its worker are
processes of their own, each importing vLLM again (about 15 s apiece here), and its
CPU backend keeps one of the two cores for its scheduler. The tests run vLLM in one
process and compute on both cores. The product's managed server keeps vLLM's defaults.
"""

from __future__ import annotations

import os

#: added to a test's environment before vLLM starts (a managed server inherits it)
ONE_PROCESS_VLLM = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
                    "OMP_NUM_THREADS": str(os.cpu_count() or 1)}


def vllm_test_environment(**extra: str) -> dict[str, str]:
    """This process's environment with :data:`ONE_PROCESS_VLLM` and ``extra``."""
    return {**os.environ, **ONE_PROCESS_VLLM, **extra}
