#!/usr/bin/env bash
# The tests, on a fresh machine too: installs redis-server (the Redis executor's tests start
# their own) through the system package manager when it is missing, then runs `cargo test`.
# Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
    echo "scripts/test.sh: installing redis-server" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq || true
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
    elif command -v brew >/dev/null 2>&1; then
        brew install redis
    else
        echo "scripts/test.sh: no apt-get or brew: install redis-server (>= 6.2) yourself" >&2
        exit 1
    fi
fi
# Debian starts a system-wide server on 6379 after installing; the tests do not use it.
cargo test "$@"
