#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ (not a workspace member) and replays their seed corpus
# (fuzz/corpus/<target>/) and saved regressions (fuzz/regressions/<target>/) through each.
#
# With cargo-fuzz (installed here when missing: `cargo install cargo-fuzz --locked`) the targets
# are built instrumented (`cargo fuzz build -O`, address sanitizer; RUSTC_BOOTSTRAP lets the
# stable toolchain accept the sanitizer flags). When cargo-fuzz cannot be installed or cannot
# build, a plain `cargo build` proves the targets compile and the replay runs on it.
#
# Usage: scripts/fuzz-build.sh              build all targets + replay the corpus (CI)
#        scripts/fuzz-build.sh run [SECS]   build, then fuzz every target for SECS seconds
#                                           (default $QUARANTD_FUZZ_SECS or 20), one at a time,
#                                           and print one table: target, executions, crashes
# Env:   QUARANTD_FUZZ_SECS       seconds per target in run mode (default 20)
#        QUARANTD_FUZZ_TARGETS    space-separated subset of targets (default: all in Cargo.toml)
#        QUARANTD_FUZZ_PLAIN=1    do not use cargo-fuzz (plain build + replay only)
#
# A crash (panic, failed assertion, sanitizer report, timeout of 10 s, 2 GB RSS) fails the
# script; libFuzzer leaves the input under fuzz/artifacts/<target>/. A crash found and not yet
# fixed is committed as fuzz/regressions/<target>/open-<name>: replayed and reported as
# "known open", without failing, and its target is not fuzzed in run mode (the fuzzer would
# stop at that crash again at once); drop the `open-` prefix when the fix lands.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_TIMEOUT=10
RSS_LIMIT_MB=2048
MAX_LEN=65536

targets() {
    if [[ -n "${QUARANTD_FUZZ_TARGETS:-}" ]]; then
        echo "$QUARANTD_FUZZ_TARGETS"
    else
        sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^quarantd-fuzz$'
    fi
}

have_cargo_fuzz() {
    [[ "${QUARANTD_FUZZ_PLAIN:-}" != 1 ]] || return 1
    cargo fuzz --version >/dev/null 2>&1 && return 0
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2 || {
        echo "fuzz: cargo-fuzz could not be installed" >&2
        return 1
    }
}

# Prints the directory of the built target binaries.
build() {
    if have_cargo_fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz -O >&2; then
        echo "fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
        return
    fi
    echo "fuzz: cargo-fuzz unavailable: plain build, corpus replay only" >&2
    cargo build --manifest-path fuzz/Cargo.toml >&2
    echo "fuzz/target/debug"
}

instrumented() { [[ "$1" != fuzz/target/debug ]]; }

# The inputs to replay for a target: seeds and regressions (known-open ones apart).
inputs() {
    local t="$1" kind="$2"
    find "fuzz/corpus/$t" "fuzz/regressions/$t" -type f 2>/dev/null | sort | while read -r f; do
        case "$(basename "$f")" in
            open-*) [[ "$kind" == open ]] && echo "$f" ;;
            *) [[ "$kind" == closed ]] && echo "$f" ;;
        esac
    done
}

# Runs each input once through the target; a failure is a crash.
replay() {
    local bin="$1" t="$2" failed=0 n=0 f
    while read -r f; do
        n=$((n + 1))
        "$bin/$t" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" "$f" >"fuzz/work/$t.replay.log" 2>&1 || {
            echo "fuzz: $t crashes on $f (log: fuzz/work/$t.replay.log)" >&2
            mkdir -p "fuzz/artifacts/$t" && cp "$f" "fuzz/artifacts/$t/"
            failed=1
        }
    done < <(inputs "$t" closed)
    while read -r f; do
        if "$bin/$t" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" "$f" >/dev/null 2>&1; then
            echo "fuzz: $t: known-open $f no longer crashes: drop its open- prefix" >&2
        else
            echo "fuzz: $t: known open crash $f (not failing)" >&2
        fi
    done < <(inputs "$t" open)
    echo "$n"
    return "$failed"
}

crash_files() {
    find "fuzz/artifacts/$1" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
        -o -name 'leak-*' \) | wc -l
}

# Fuzzes one target for $secs; prints "executions crashes".
fuzz_one() {
    local bin="$1" t="$2" secs="$3" log="fuzz/work/$t.log"
    mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
    local before after execs
    before=$(crash_files "$t")
    local dirs=("fuzz/work/$t" "fuzz/corpus/$t")
    "$bin/$t" "${dirs[@]}" -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$secs" \
        -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$MAX_LEN" \
        -print_final_stats=1 >"$log" 2>&1 || true
    after=$(crash_files "$t")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "${execs:-?} $((after - before))"
}

main() {
    mkdir -p fuzz/work
    local bin
    bin=$(build)
    local mode="${1:-build}" secs="${2:-${QUARANTD_FUZZ_SECS:-20}}" failed=0
    local rows=() t replayed execs crashes
    for t in $(targets); do
        if ! replayed=$(replay "$bin" "$t"); then
            failed=1
            rows+=("$t ${replayed:-?} - replay-crash")
            continue
        fi
        if [[ "$mode" == run ]] && compgen -G "fuzz/regressions/$t/open-*" >/dev/null; then
            # A known open crash would be found again at once and hide everything else:
            # the target is replayed, not fuzzed, until the fix drops the open- prefix.
            rows+=("$t $replayed - known-open")
        elif [[ "$mode" == run ]] && instrumented "$bin"; then
            read -r execs crashes < <(fuzz_one "$bin" "$t" "$secs")
            [[ "$crashes" == 0 ]] || failed=1
            rows+=("$t $replayed $execs $crashes")
        else
            rows+=("$t $replayed - -")
        fi
    done
    summary "$mode" "$secs" "$bin" "${rows[@]}"
    return "$failed"
}

summary() {
    local mode="$1" secs="$2" bin="$3"
    shift 3
    if [[ "$mode" == run ]] && instrumented "$bin"; then
        echo "fuzz: ${secs} s per target (crash inputs: fuzz/artifacts/<target>/, logs: fuzz/work/<target>.log)"
    else
        echo "fuzz: corpus replay only ($(instrumented "$bin" && echo instrumented || echo plain) build)"
    fi
    printf '%-14s %8s %12s %8s\n' target replayed executions crashes
    local row
    for row in "$@"; do
        # shellcheck disable=SC2086
        printf '%-14s %8s %12s %8s\n' $row
    done
}

main "$@"
