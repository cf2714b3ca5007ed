#!/usr/bin/env bash
# run.sh - the main job: installs what is missing, builds, and runs
# `akidb serve` on a local data folder (./akidb-data unless AKIDB_DATA is set).
# Models are read from <data>/models/<name>/ (fetch one with `akidb pull`)
# or given with --model NAME=DIR; further arguments go to `akidb serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
data="${AKIDB_DATA:-./akidb-data}"
mkdir -p "$data"
exec ./build/akidb serve --data "$data" "$@"
