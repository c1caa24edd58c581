#!/usr/bin/env bash
# Runs every Rust twin of the seed's examples that exists so far, in the seed's order.
set -euo pipefail
cd "$(dirname "$0")/.."
twins=(asyncio_task thread_pool_executor process_pool_executor thread_pool pool thread process)
cargo build -q --release --examples
for twin in "${twins[@]}"; do
  if [ -f "concurra/examples/$twin.rs" ]; then
    echo "== $twin"
    "target/release/examples/$twin"
  fi
done
