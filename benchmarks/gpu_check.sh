#!/bin/sh
# One table of what a GPU machine gives this repository (benchmarks/gpu_check.py), in under
# five minutes on one GPU:  sh benchmarks/gpu_check.sh [--steps 20] [--compile]
set -e
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python3 -m benchmarks.gpu_check "$@"
