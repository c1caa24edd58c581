#!/usr/bin/env bash
# Fuzzes the wire (issue 17): the frame decoder and the call/reply decoding on both sides,
# with cargo-fuzz (libFuzzer) on the nightly toolchain. See fuzz/README.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS (default 600) is the time box for the whole run, shared evenly by the targets
# (default: all of them: frames frames_read call reply). One libFuzzer job at a time; an
# input that takes over 10 s is a hang. Exits non-zero if a target found a crash, hang or
# out-of-memory; the input is then in fuzz/artifacts/<target>/ and the log in
# fuzz/logs/<target>.log (turn the input into a unit test in
# concurra/src/process/fuzz.rs, bytes inline, then fix the library).
# Needs: rustup toolchain nightly, `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frames frames_read call reply)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
    exit 2
fi
each=$((total / ${#targets[@]}))
if [ "$each" -lt 1 ]; then
    each=1
fi
cargo +nightly fuzz build -O
mkdir -p fuzz/logs
status=0
for target in "${targets[@]}"; do
    echo "== fuzz target $target: ${each}s"
    found_before=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
    rm -f "fuzz/logs/$target.log"
    if ! cargo +nightly fuzz run "$target" -O -- \
        -max_total_time="$each" -jobs=1 -timeout=10 -rss_limit_mb=2048; then
        status=1
    fi
    # With -jobs, libFuzzer writes its job's log to the working directory.
    if [ -f fuzz-0.log ]; then
        mv fuzz-0.log "fuzz/logs/$target.log"
        tail -n 1 "fuzz/logs/$target.log"
    fi
    found=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
    if [ "$found" -gt "$found_before" ] ||
        grep -qE "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|deadly signal|panicked at" \
            "fuzz/logs/$target.log" 2>/dev/null; then
        echo "fuzz.sh: $target found a crash, hang, leak or OOM: see fuzz/logs/$target.log and fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit $status
