#!/usr/bin/env bash
# The first GPU baselines: llama3-8b with random weights (built on the GPU from the model
# registry's architecture, no download), hf engine, bf16, the synthetic workloads
# (synthetic.random, prefill-heavy, decode-heavy) in offline and single_stream, 3 rounds
# each, plus the calibration (bf16 GEMM 8192^3 and HBM copy against the datasheet), plus
# the real-GPU checks of tests/gpu (NVML timeline, calibration fractions, timestamps).
#
# Run from the repository root on a machine with an NVIDIA H100 or H200 and no network:
#   here:  bash scripts/gpu-wheels.sh          # fills .whl/ (openaiperf's missing dependencies)
#   there: bash benchmarks/scripts/gpu_run.sh  # with .whl carried along; OUT=<folder> for the results
# Results: $OUT/reports/<run>/ (results.json, report.html, calibration.json, monitor timelines),
# $OUT/baselines/<hw>/ (copy into baselines/<hw>/ and commit), $OUT/gpu-tests.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-run-out}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
# The working tree's sources first; /tmp/site holds the dependencies and openaiperf's entry points.
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export OPENAIPERF_CACHE_DIR=${OPENAIPERF_CACHE_DIR:-/tmp/openaiperf-cache}

GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$GPU_NAME" in
  *H200*) HW=h200 ;;
  *H100*) HW=h100 ;;
  *) echo "gpu_run.sh: no H100/H200 profile for '$GPU_NAME'; set HW=<profile>" >&2; HW=${HW:?} ;;
esac
HW=${HW_OVERRIDE:-$HW}
echo "GPU: $GPU_NAME -> --hw $HW" | tee "$OUT/gpu-run.log"
nvidia-smi | tee -a "$OUT/gpu-run.log"

"$PYTHON" -m pytest tests/gpu -m gpu -q -s -p no:cacheprovider 2>&1 | tee "$OUT/gpu-tests.log" || true

rm -rf "baselines/$HW"
"$PYTHON" -m pytest benchmarks -p no:cacheprovider --hw "$HW" --weights random --repeats 3 \
  -k "(llama3-8b and synthetic and hf) or calibration" \
  --baseline-save baselines --report-dir "$OUT/reports" --no-history 2>&1 | tee -a "$OUT/gpu-run.log"

mkdir -p "$OUT/baselines"
cp -r "baselines/$HW" "$OUT/baselines/" 2>/dev/null || echo "no baselines saved" | tee -a "$OUT/gpu-run.log"
