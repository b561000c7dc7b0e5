#!/usr/bin/env bash
# Build the image: ./docker_build.sh [TAG]   (default tag: ebm:latest)
set -euo pipefail
cd "$(dirname "$0")"
docker build -t "${1:-ebm:latest}" .
