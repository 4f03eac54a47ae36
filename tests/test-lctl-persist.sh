#!/usr/bin/env bash
# lctl set_param -P on a whole local filesystem (tests/llmount.sh): a parameter set through the MGS
# reaches the mounted client within seconds, survives an unmount and a restart of every daemon,
# a bad value is refused before it is stored, -P -d deletes it at the MGS, and -P away from the
# MGS node is refused clearly.  Then the Prometheus endpoints of lustre-mds and mount.lustre
# answer well-formed text with lustre_exporter's series.
TEST_NET=${TEST_NET:-127.0.10}
TEST_PORT=${TEST_PORT:-19930}
. "$(dirname "$0")/test-framework.sh"
MDS_METRICS=$TEST_NET.1:19931
CLIENT_METRICS=$TEST_NET.1:19932
export MDS_OPTS="--metrics-address $MDS_METRICS" MOUNT_OPTS="metrics_address=$CLIENT_METRICS"
start_llmount

# The MGS's record of testfs (an image loop-mounted under the run dir as root, a directory otherwise).
config_file() { find "$TEST_DIR" -path '*CONFIGS/testfs-client' 2>/dev/null | head -1; }
# wait_value PATTERN VALUE SECONDS: until every match of PATTERN reads VALUE.
wait_value() {
    for _ in $(seq $(($3 * 10))); do
        [ "$("$LCTL" get_param -n "$1" 2>/dev/null | sort -u)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

[ "$("$LCTL" get_param -n 'osc.*.max_dirty_mb' | sort -u)" = 32 ] || fail "max_dirty_mb does not start at 32"
"$LCTL" set_param -P 'osc.*.max_dirty_mb=64' || fail "set_param -P osc.*.max_dirty_mb=64 failed"
wait_value 'osc.*.max_dirty_mb' 64 10 || fail "the client's max_dirty_mb is not 64: $("$LCTL" get_param 'osc.*.max_dirty_mb')"
log "set_param -P reached the client: $("$LCTL" get_param 'osc.*.max_dirty_mb' | tr '\n' ' ')"
grep -qx 'param osc.\*.max_dirty_mb=64' "$(config_file)" || fail "no param record in $(config_file)"
# A name without a filesystem reaches every daemon: lustre-mds, both lustre-oss and the client
# (get_param prints one line only when all of them agree).
"$LCTL" set_param -P fail_val=42 || fail "set_param -P fail_val=42 failed"
wait_value fail_val 42 15 || fail "fail_val is not 42 in every daemon: $("$LCTL" get_param -n fail_val | tr '\n' ' ')"
"$LCTL" set_param -P -d fail_val || fail "set_param -P -d fail_val failed"

# A bad value is refused before it is stored.
"$LCTL" set_param -P 'osc.*.max_dirty_mb=99999' 2>"$TEST_DIR/bad.out" && fail "max_dirty_mb=99999 accepted"
cat "$TEST_DIR/bad.out"
grep -q "out of range 1..4096" "$TEST_DIR/bad.out" || fail "no clear message for a bad value: $(cat "$TEST_DIR/bad.out")"
grep -qx 'param osc.\*.max_dirty_mb=64' "$(config_file)" || fail "a refused value changed the MGS's record"
# A name of an unknown filesystem, and -P on a node without the MGS (only the client's socket).
"$LCTL" set_param -P 'llite.nosuch-*.max_read_ahead_mb=8' 2>"$TEST_DIR/nofs.out" && fail "unknown filesystem accepted"
grep -q "no filesystem named 'nosuch'" "$TEST_DIR/nofs.out" || fail "unclear unknown-filesystem error: $(cat "$TEST_DIR/nofs.out")"
mkdir -p "$TEST_DIR/clientonly"
ln -s "$LUSTRE_RUN_DIR"/mount.lustre-*.sock "$TEST_DIR/clientonly/" || fail "no client admin socket"
"$LCTL" --run-dir "$TEST_DIR/clientonly" set_param -P 'osc.*.max_dirty_mb=128' 2>"$TEST_DIR/nomgs.out" \
    && fail "set_param -P without an MGS succeeded"
grep -q "must run on the MGS node" "$TEST_DIR/nomgs.out" || fail "unclear no-MGS error: $(cat "$TEST_DIR/nomgs.out")"

# Metrics of lustre-mds and mount.lustre: strict Prometheus text 0.0.4.
dd if=/dev/zero of="$MOUNT/f" bs=1M count=2 conv=fsync status=none || fail "dd to the mount failed"
check_metrics() { # NAME ADDRESS EXPECTED-REGEX
    curl -sf "http://$2/metrics" >"$TEST_DIR/$1.prom" || fail "no answer from $1 metrics at $2"
    python3 - "$TEST_DIR/$1.prom" <<'EOF' || fail "$1 metrics are not valid Prometheus text"
import re, sys
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(rf'^{name}(\{{{label}(,{label})*\}})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|Inf)$')
typed = set()
for n, line in enumerate(open(sys.argv[1]).read().splitlines(), 1):
    m = re.match(rf'^# TYPE ({name}) (counter|gauge|histogram|summary|untyped)$', line)
    if m:
        assert m.group(1) not in typed, f"line {n}: second TYPE for {m.group(1)}"
        typed.add(m.group(1)); continue
    if re.match(rf'^# HELP {name} .*$', line) or line == "":
        continue
    assert sample.match(line), f"line {n}: {line!r}"
EOF
    grep -Eq "$3" "$TEST_DIR/$1.prom" || fail "$1 metrics lack $3"
}
check_metrics mds "$MDS_METRICS" '^lustre_(stats_total|exports_total)\{component="mdt",target="testfs-MDT0000"'
check_metrics client "$CLIENT_METRICS" '^lustre_write_bytes_total\{component="client",target="testfs-[0-9a-f]+"\} 2097152$'
log "metrics: $(wc -l <"$TEST_DIR/mds.prom") lines from lustre-mds, $(wc -l <"$TEST_DIR/client.prom") from mount.lustre"

# Unmount, stop and restart everything: the value comes back from the MGS's record.
bash "$TESTS_HOME/llmountcleanup.sh" >"$TEST_DIR/cleanup1.log" 2>&1 || fail "llmountcleanup.sh failed"
REFORMAT=no bash "$TESTS_HOME/llmount.sh" >"$TEST_DIR/llmount2.log" 2>&1 || fail "remount failed: $(tail -5 "$TEST_DIR/llmount2.log")"
wait_value 'osc.*.max_dirty_mb' 64 10 || fail "after remount max_dirty_mb is $("$LCTL" get_param -n 'osc.*.max_dirty_mb' | sort -u)"
log "after a restart of every daemon and a remount: max_dirty_mb 64"

# -P -d deletes the record; the nodes keep the value they have (as Lustre).
"$LCTL" set_param -P -d 'osc.*.max_dirty_mb' || fail "set_param -P -d failed"
grep -q 'max_dirty_mb' "$(config_file)" && fail "-P -d left the record: $(grep param "$(config_file)")"
"$LCTL" set_param -P -d 'osc.*.max_dirty_mb' 2>"$TEST_DIR/again.out" && fail "deleting twice succeeded"
grep -q "no persistent parameter" "$TEST_DIR/again.out" || fail "unclear second delete: $(cat "$TEST_DIR/again.out")"
pass
