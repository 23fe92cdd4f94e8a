#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for a set time each (cargo-fuzz, libFuzzer, nightly toolchain)
# and prints one line per target: executions, wall time, corpus size, crashes.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# New corpus entries land in fuzz/corpus/<target>/ (minimise with `cargo +nightly fuzz cmin`).
# A crash is written to fuzz/artifacts/<target>/; once fixed, copy it to
# fuzz/regressions/<target>/, where the stable test suite replays it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
    TARGETS=(manifest image camera_frame station_config line_protocol)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd fuzz
status=0
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    before=$(find "artifacts/$target" -type f ! -name '*.log' | wc -l)
    set +e
    cargo +nightly fuzz run "$target" -- -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    after=$(find "artifacts/$target" -type f ! -name '*.log' | wc -l)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    printf 'fuzz: %-15s %10s executions in %4s s, corpus %5d, new crashes %d (exit %d)\n' \
        "$target" "${runs:-?}" "${secs:-?}" "$corpus" "$((after - before))" "$rc"
    if [ "$rc" -ne 0 ]; then
        status=1
        tail -30 "$log" >&2
    fi
done
exit "$status"
