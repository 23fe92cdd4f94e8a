#!/usr/bin/env bash
# Runs every command in README.md's ```sh blocks, as written, from the repository root, and
# fails on the first that fails. A command continued with a trailing backslash is joined
# first; comment lines are skipped, and so are `make ...` lines (the quick start's `make demo`
# and `make test`, and the other make targets, are run by CI and by hand, not from here).
# The binaries come from target/debug unless ADAPTS_BIN names another directory; outputs go
# under out/, which git ignores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin="${ADAPTS_BIN:-target/debug}"
for tool in adapts-builder adapts-runtime; do
    [ -x "$bin/$tool" ] || { echo "check-readme: $bin/$tool not found; build it first" >&2; exit 2; }
done
export PATH="$PWD/$bin:$PATH"
export RUST_LOG="${RUST_LOG:-warn}"

commands="$(awk '
    /^```sh[[:space:]]*$/ { inside = 1; next }
    /^```/ { inside = 0; next }
    inside {
        line = $0
        if (pending != "") { line = pending " " line; pending = "" }
        if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", line); pending = line; next }
        sub(/^[[:space:]]+/, "", line)
        if (line == "" || line ~ /^#/ || line ~ /^make([[:space:]]|$)/) next
        print line
    }
' README.md)"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
count=0
while IFS= read -r command; do
    [ -n "$command" ] || continue
    count=$((count + 1))
    printf 'check-readme [%d]: %s\n' "$count" "$command"
    start=$SECONDS
    if ! bash -c "set -euo pipefail; $command" >"$log" 2>&1; then
        cat "$log" >&2
        echo "check-readme: this README command failed: $command" >&2
        exit 1
    fi
    printf 'check-readme [%d]: ok (%d s)\n' "$count" $((SECONDS - start))
done <<< "$commands"
[ "$count" -gt 0 ] || { echo "check-readme: no commands found in README.md" >&2; exit 1; }
echo "check-readme: all $count README commands ran"
