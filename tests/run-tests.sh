#!/usr/bin/env bash
# Runs every system test (tests/test-*.sh), each in its own shell, and ends
# with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")"
export LUSTRE_BIN=${LUSTRE_BIN:-$(cd .. && swift build --show-bin-path)}
passed=0
failed=0
failures=()
for test in ${ONLY:-test-*.sh sanity.sh}; do
    [ "$test" = test-framework.sh ] && continue
    echo "=== $test"
    start=$(date +%s)
    if timeout 300 bash "$test"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$test")
    fi
    echo "=== $test done in $(( $(date +%s) - start )) s"
done
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
