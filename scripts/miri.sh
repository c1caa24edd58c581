#!/usr/bin/env bash
# Runs the tests of every module with `unsafe` (lib.rs lists them) under Miri:
# process/identity.rs (function identity), chunk/slots.rs (a map's list written in place by
# its chunks), chunk/pull.rs (a map's input lent to the workers that read it),
# future/outcome.rs (the outcome cell, Sync for any Send value), aio/engine/waker.rs and
# aio/engine/task.rs
# (a task's waker, a coroutine polled in place), work.rs (a job boxed inline by `smallbox!`).
#
#   bash scripts/miri.sh [SECONDS]   # each step time-boxed to SECONDS (default: no limit)
#
# Needs the nightly toolchain with the miri component (`rustup +nightly component add miri`);
# without it, says so and exits 0 (CI calls it only where the toolchain is there).
# Permissive provenance: `Entry::resolve` turns a function's distance back into a pointer with
# `ptr::with_exposed_provenance`, which Miri checks only in this mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri.sh: no nightly toolchain with Miri here; skipped" >&2
    exit 0
fi
box=()
if [ -n "${1:-}" ]; then
    box=(timeout "$1")
fi
export MIRIFLAGS=-Zmiri-permissive-provenance
"${box[@]}" cargo +nightly miri test -q -p concurra --lib process::identity
"${box[@]}" cargo +nightly miri test -q -p concurra --lib chunk::
"${box[@]}" cargo +nightly miri test -q -p concurra --lib future::
"${box[@]}" cargo +nightly miri test -q -p concurra --lib work::
"${box[@]}" cargo +nightly miri test -q -p concurra --test future_contract
"${box[@]}" cargo +nightly miri test -q -p concurra --lib aio
"${box[@]}" cargo +nightly miri test -q -p concurra --test aio_tasks
"${box[@]}" cargo +nightly miri test -q -p concurra --test aio_threads
