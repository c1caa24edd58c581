#!/usr/bin/env bash
# Runs every workload twice: unpinned (both CPUs), then pinned to CPU 0 with `taskset -c 0`,
# so one command prints both tables. Extra arguments go to the bench, e.g. `--rounds 3`.
#
#   bash bench/run-all.sh [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v taskset >/dev/null; then
    echo "run-all.sh: taskset not found (util-linux); cannot run the pinned tables" >&2
    exit 1
fi

# uvloop is a peer of the event-loop workloads.
python3 -c 'import uvloop' 2>/dev/null || python3 -m pip install -q uvloop || echo "run-all.sh: uvloop unavailable; its rows will say so" >&2

cargo build --release -p bench

echo "######## unpinned ########"
echo
cargo run --release -q -p bench -- all "$@"

echo "######## pinned: taskset -c 0 ########"
echo
taskset -c 0 cargo run --release -q -p bench -- all --pin "$@"
