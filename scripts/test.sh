#!/usr/bin/env bash
# Installs what the tests need, builds Prism and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product prism
export PRISM_BINARY="$PWD/.build/release/prism"
# The registry's PostgreSQL tests need a real server; this starts a throwaway one on 127.0.0.1:54329.
PRISM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
export PRISM_TEST_POSTGRES_URL
swift test --parallel --num-workers 2 2>&1 | tee /tmp/prism-test.log | grep -vE "^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking|Building)"
exit "${PIPESTATUS[0]}"
