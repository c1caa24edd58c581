#!/usr/bin/env bash
# Runs the loom models (src/loom.rs says what they cover): every interleaving of the
# Future's state machine (src/future/loom.rs), of the thread pool's idle accounting
# (src/thread_pool/idle.rs) and of the signal registry's handshake with its handler
# (src/sys/signal.rs), on the real code built with `--cfg concurra_loom`.
#
#   bash scripts/loom.sh [SECONDS]   # time-boxed to SECONDS (default: no limit)
#
# Its own target directory, so the `--cfg concurra_loom` build never invalidates the normal one.
# LOOM_MAX_PREEMPTIONS bounds the search (loom's default is exhaustive); 3 finds the
# interleavings that matter here in well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
box=()
if [ -n "${1:-}" ]; then
    box=(timeout "$1")
fi
export RUSTFLAGS="--cfg concurra_loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
"${box[@]}" cargo test --release -p concurra --lib loom -- --test-threads=2
