#!/usr/bin/env bash
# test.sh — THE single test command of quarantd:
#   test dependencies + services, cargo fmt --check, clippy -D warnings,
#   fuzz targets: build, seed-corpus replay, each fuzzed QUARANTD_FUZZ_SECS s (default 20),
#   cargo test --workspace [ARGS...]   (ARGS are passed through to cargo test)
# Exports QUARANTD_TEST_RUN_ID so tests can name per-run databases/keys.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export QUARANTD_TEST_RUN_ID="${QUARANTD_TEST_RUN_ID:-$(date +%s)-$$}"

fail() { echo "test.sh: FAILED at step: $1 (run id $QUARANTD_TEST_RUN_ID)" >&2; exit 1; }
step() { echo "==> $1" >&2; }

step "test dependencies";  scripts/install-test-deps.sh                          || fail "install-test-deps"
step "cargo fmt --check";  cargo fmt --all -- --check                            || fail "cargo fmt (run: cargo fmt --all)"
step "cargo clippy";       cargo clippy --workspace --all-targets -- -D warnings || fail "cargo clippy"
step "layers";             python3 scripts/check-layers.py                       || fail "layers (ARCHITECTURE.md's crate graph, module cycles, the binary)"
step "fuzz";               scripts/fuzz-build.sh run                             || fail "fuzz (crash inputs: fuzz/artifacts/)"
step "cargo test";         cargo test --workspace "$@"                           || fail "cargo test"
echo "test.sh: ALL PASSED (fmt, clippy, tests; run id $QUARANTD_TEST_RUN_ID)"
