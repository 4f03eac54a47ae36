#!/usr/bin/env bash
# Runs every system test (tests/test-*.sh), each in its own shell, and ends
# with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")"
export LUSTRE_BIN=${LUSTRE_BIN:-$(cd .. && swift build --show-bin-path)}
passed=0
failed=0
skipped=0
failures=()
# Tests that find a defect not fixed yet (none now): run them with ONLY=..., or KNOWN_FAILING= to
# include them.
KNOWN_FAILING=${KNOWN_FAILING-}
for test in ${ONLY:-test-*.sh sanity.sh}; do
    [ "$test" = test-framework.sh ] && continue
    if [ -z "${ONLY:-}" ] && [[ " $KNOWN_FAILING " == *" $test "* ]]; then
        echo "=== $test skipped: known failing (see tests/run-tests.sh)"
        skipped=$((skipped + 1))
        continue
    fi
    echo "=== $test"
    start=$(date +%s)
    if timeout 600 bash "$test"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$test")
    fi
    echo "=== $test done in $(( $(date +%s) - start )) s"
done
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
