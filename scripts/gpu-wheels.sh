#!/usr/bin/env bash
# Download into .whl/ (git-ignored) the wheels a GPU machine without network needs to run
# openaiperf, for Python 3.12 on manylinux x86_64, plus openaiperf's own wheel built from
# this tree. The GPU image already holds PyTorch, transformers, nvidia-ml-py, pytest,
# pytest-benchmark, numpy, scipy, psutil, rich, pyyaml, filelock, jinja2, matplotlib,
# aiohttp and uvloop; what openaiperf's dependencies add is below (the versions are the
# ones this project is tested with). gguf (the embedded model), rouge-score (ROUGE) and
# vllm are left out: the random-weights synthetic run needs none of them.
#
#   bash scripts/gpu-wheels.sh            # then carry .whl with the working tree
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl   # on the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=(
  pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0
  sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 platformdirs==4.14.7
)
mkdir -p .whl
rm -f .whl/*.whl
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
# openaiperf itself (pure Python): its entry points register the pytest plugin and `ob`.
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w .whl .
ls -l .whl
du -sh .whl
