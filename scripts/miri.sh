#!/usr/bin/env bash
# Runs the tests of the crate's unsafe modules under Miri: process/identity.rs (function
# identity), chunk/slots.rs (a map's list written in place by its chunks) and chunk/pull.rs
# (a map's input lent to the workers that read it) and future/outcome.rs (the outcome cell).
# Needs the nightly toolchain with the miri component (`rustup +nightly component add miri`).
# Permissive provenance: `Entry::resolve` turns a function's distance back into a pointer with
# `ptr::with_exposed_provenance`, which Miri checks only in this mode.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRIFLAGS=-Zmiri-permissive-provenance cargo +nightly miri test -p concurra --lib process::identity
cargo +nightly miri test -p concurra --lib chunk::
# future/outcome.rs: the outcome cell, Sync for any Send value (a Send-only value crossing threads).
cargo +nightly miri test -p concurra --lib future::
