#!/usr/bin/env bash
# Runs every benchmark in tests/bench/ (not tests: they print figures, assert nothing).
set -u
cd "$(dirname "$0")"
status=0
for bench in *.sh; do
    [ "$bench" = run-all.sh ] && continue
    echo "=== bench/$bench"
    bash "$bench" || { echo "=== bench/$bench failed" >&2; status=1; }
done
exit $status
