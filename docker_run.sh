#!/usr/bin/env bash
# Start a container with all GPUs:
#   ./docker_run.sh [DATA_DIR] [RESULTS_DIR]
# DATA_DIR (default $EBM_DATA or /data) is mounted at /data, where arguments.py expects
# /data/ASVspoof2019, /data/ASVspoof2021_LA_eval and /data/ASVspoof2021_DF.
# RESULTS_DIR (default $EBM_RESULTS or ./results) is mounted at /results (path_log).
set -euo pipefail
cd "$(dirname "$0")"
data_dir="${1:-${EBM_DATA:-/data}}"
results_dir="${2:-${EBM_RESULTS:-$PWD/results}}"
image="${EBM_IMAGE:-ebm:latest}"
mkdir -p "$results_dir"
docker run --gpus all --ipc=host -it --rm \
    -v "$data_dir":/data \
    -v "$results_dir":/results \
    -v "$PWD":/code -w /code \
    "$image" bash
