#!/usr/bin/env bash
# Runs every benchmark in tests/bench/ (not tests: they print figures, assert nothing).
set -u
cd "$(dirname "$0")"
for bench in lnet.sh; do
    echo "=== bench/$bench"
    bash "$bench"
done
