#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ (not a workspace member). With cargo-fuzz installed it
# builds them instrumented (`cargo fuzz build`; RUSTC_BOOTSTRAP lets the stable toolchain
# accept the sanitizer flags); otherwise a plain build proves they compile.
# Usage: scripts/fuzz-build.sh            (CI)
#        scripts/fuzz-build.sh run [SECS] (build and run the decompose target for SECS s)
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo fuzz --version >/dev/null 2>&1; then
    RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz -O decompose
    if [[ "${1:-}" == "run" ]]; then
        secs="${2:-120}"
        mkdir -p fuzz/corpus/decompose
        RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O decompose fuzz/corpus/decompose \
            -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576
    fi
else
    echo "cargo-fuzz not installed: plain build of the fuzz targets" >&2
    cargo build --manifest-path fuzz/Cargo.toml
fi
