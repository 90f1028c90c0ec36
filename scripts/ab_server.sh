#!/usr/bin/env bash
# One side's vLLM server of a pull request's interleaved A/B benchmark
# (.github/workflows/gpu-benchmarks.yml): the base and the head each run their own server,
# from their own environment, on the same GPU, on loopback.
#   scripts/ab_server.sh start PYTHON PORT MODEL_SOURCE SERVED_NAME LOG   # background; PID in LOG.pid
#   scripts/ab_server.sh wait PORT LOG [TIMEOUT_S]                          # until /health answers (default 900 s)
#   scripts/ab_server.sh stop LOG
# AB_GPU_MEMORY_UTILIZATION (default 0.42): each server's share of the GPU, so that two fit.
set -euo pipefail
command=${1:?start, wait or stop}
shift
case "$command" in
  start)
    python=$1 port=$2 source=$3 name=$4 log=$5
    "$python" -m vllm.entrypoints.openai.api_server --model "$source" --served-model-name "$name" \
      --host 127.0.0.1 --port "$port" --gpu-memory-utilization "${AB_GPU_MEMORY_UTILIZATION:-0.42}" \
      > "$log" 2>&1 &
    echo $! > "$log.pid"
    ;;
  wait)
    port=$1 log=$2 timeout=${3:-900}
    for _ in $(seq "$timeout"); do
      if curl -sf "http://127.0.0.1:$port/health" > /dev/null; then exit 0; fi
      if ! kill -0 "$(cat "$log.pid")" 2> /dev/null; then
        echo "the server on port $port exited:"; tail -n 50 "$log"; exit 1
      fi
      sleep 1
    done
    echo "the server on port $port did not answer /health within $timeout s:"; tail -n 50 "$log"; exit 1
    ;;
  stop)
    log=$1
    if [ -f "$log.pid" ]; then kill "$(cat "$log.pid")" 2> /dev/null || true; fi
    ;;
  *)
    echo "unknown command $command: expected start, wait or stop" >&2; exit 2
    ;;
esac
