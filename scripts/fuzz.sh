#!/usr/bin/env bash
# Fuzzes Quartet's pure parsers with libFuzzer (docs/fuzzing.md). Not part of CI or scripts/test.sh.
#
#   scripts/fuzz.sh                 build Fuzz/ and run every target for FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh wire note       only the targets whose names contain one of the words (any case)
#
# Environment:
#   FUZZ_SECONDS=N        seconds per target (default 60)
#   FUZZ_NO_BUILD=1       use the binaries already in Fuzz/.build/release
#   FUZZ_ARGS="..."       more libFuzzer flags, e.g. "-seed=1 -max_len=65536"
#   QUARTET_FUZZ_STRICT=1 do not step around the known bugs listed in docs/fuzzing.md (or
#                         =name,name: not around those)
#
# Each target runs in-process (one process, one thread: one core), one after the other, over its
# committed seeds (Fuzz/corpus/<target>, read only) and a working corpus it grows
# (Fuzz/.work/<target>, kept between runs, not in git). Per target it prints executions,
# libFuzzer's final coverage (cov: edges, ft: features), the corpus size and whether it crashed.
# A crash, leak, timeout or out-of-memory input is kept as Fuzz/artifacts/<target>/crash-<sha1>
# (or leak-, timeout-, oom-) with the run's log next to it, and the script exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
# Swift's own crash backtracer takes seconds per crash and can outlive the process; libFuzzer
# and ASan print the stack themselves.
export SWIFT_BACKTRACE=enable=no

TARGETS=(FuzzWire FuzzJSONValidator FuzzFlatJSON FuzzSignedNote FuzzAgreement FuzzPlanPayload FuzzSuppression FuzzEntryHeader)
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
LOCK=/tmp/quartet-swift.lock

selected=()
for target in "${TARGETS[@]}"; do
    if [ $# -eq 0 ]; then selected+=("$target"); continue; fi
    for word in "$@"; do
        if [[ "${target,,}" == *"${word,,}"* ]]; then selected+=("$target"); break; fi
    done
done
if [ ${#selected[@]} -eq 0 ]; then
    echo "fuzz.sh: no target matches: $* (targets: ${TARGETS[*]})" >&2
    exit 2
fi

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    echo "== building Fuzz/ (release, address and fuzzer sanitizers)"
    # --sanitize=fuzzer makes SwiftPM compile the targets as libraries and link libFuzzer's main.
    # -Xswiftc -sanitize=fuzzer,address comes last on every swiftc line, and swiftc adds
    # libFuzzer's coverage instrumentation only when the last -sanitize names fuzzer: SwiftPM
    # passes its --sanitize flags in no fixed order, and with address last the binaries fuzz blind.
    # -enable-testing: FuzzFlatJSON reaches the internal FlatJSON with @testable import.
    mkdir -p Fuzz/.work
    flock "$LOCK" swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing >Fuzz/.work/build.log 2>&1
    status=$?
    # gold warns once per binary about ASan's local symbols; nothing to act on.
    grep -v "Cannot export local symbol" Fuzz/.work/build.log | tail -3
    if [ "$status" != 0 ]; then echo "fuzz.sh: the build failed (Fuzz/.work/build.log)" >&2; exit 2; fi
fi

BIN=Fuzz/.build/release
mkdir -p Fuzz/.work Fuzz/artifacts
for target in "${selected[@]}"; do
    probe=$("$BIN/$target" -runs=0 2>&1)
    if [[ "$probe" != *"inline 8-bit counters"* ]]; then
        echo "fuzz.sh: $BIN/$target has no coverage instrumentation; rebuild (rm -rf Fuzz/.build)" >&2
        exit 2
    fi
done
crashed=()
printf '\n%-18s %12s %8s %6s %7s %7s  %s\n' target executions exec/s cov ft corpus result
for target in "${selected[@]}"; do
    work="Fuzz/.work/$target"
    artifacts="Fuzz/artifacts/$target"
    log="Fuzz/.work/$target.log"
    mkdir -p "$work" "$artifacts" "Fuzz/corpus/$target"
    dict=()
    case "$target" in
        FuzzJSONValidator|FuzzFlatJSON|FuzzPlanPayload|FuzzSuppression) dict=(-dict=Fuzz/dict/json.dict) ;;
    esac
    before=$(ls "$artifacts" | wc -l)
    # shellcheck disable=SC2086
    "$BIN/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "${dict[@]}" ${FUZZ_ARGS:-} "$work" "Fuzz/corpus/$target" >"$log" 2>&1
    status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    after=$(ls "$artifacts" | wc -l)
    result=ok
    if [ "$status" != 0 ] || [ "$after" -gt "$before" ]; then
        result="CRASHED (exit $status): $(ls -t "$artifacts" | head -1)"
        cp "$log" "$artifacts/$(date +%Y%m%dT%H%M%S).log"
        crashed+=("$target")
    fi
    printf '%-18s %12s %8s %6s %7s %7s  %s\n' "$target" "${executions:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$result"
done

if [ ${#crashed[@]} -gt 0 ]; then
    echo
    for target in "${crashed[@]}"; do
        echo "== $target: crash input and log in Fuzz/artifacts/$target/; the failure:"
        grep -m1 -A12 -E "Fatal error|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)" "Fuzz/.work/$target.log" | sed 's/^/   /'
        echo "   reproduce: $BIN/$target Fuzz/artifacts/$target/<file>"
    done
    exit 1
fi
