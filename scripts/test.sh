#!/usr/bin/env bash
# Installs what the tests need, builds Prism and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The registry's PostgreSQL tests need a real server; this starts a throwaway one on 127.0.0.1:54329.
PRISM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
export PRISM_TEST_POSTGRES_URL
# Build first (progress lines filtered out), so a compile error fails here with its message.
swift build --build-tests 2>&1 | { grep -vE "^\[[0-9]+/[0-9]+\] " || true; }
swift test --skip-build 2>&1 | tee /tmp/prism-test.log
exit "${PIPESTATUS[0]}"
