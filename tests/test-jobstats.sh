#!/usr/bin/env bash
# Client stats and job ids on a whole local filesystem (tests/llmount.sh: lustre-mds, 2
# lustre-oss, mount.lustre): `lctl set_param jobid_var=MYJOB` in mount.lustre makes the writes of
# `MYJOB=job42 dd` carry job42; osc.*.rpc_stats shows their write RPCs, osc.*.stats their bytes,
# osc.*.import the FULL connections, and, when the OSTs keep obdfilter.*.job_stats, job42 has
# exactly the bytes written (and so has llite-bench's --jobid).
TEST_NET=${TEST_NET:-127.0.9}
TEST_PORT=${TEST_PORT:-19909}
. "$(dirname "$0")/test-framework.sh"
start_llmount
# The client's OSCs (instance ffff...), not the MDS's OSPs (testfs-OST0000-osc-MDT0000).
OSC='osc.*-osc-ffff*'

# jobid_var: disable by default, Lustre's values and variable names accepted, nonsense refused.
[ "$("$LCTL" get_param -n jobid_var)" = disable ] || fail "jobid_var is not 'disable' by default"
[ "$("$LCTL" get_param -n jobid_name)" = "%e.%u" ] || fail "jobid_name is not '%e.%u' by default"
"$LCTL" set_param jobid_var="TWO WORDS" 2>"$TEST_DIR/bad.out" && fail "jobid_var='TWO WORDS' accepted"
"$LCTL" set_param jobid_var=MYJOB >/dev/null || fail "set_param jobid_var=MYJOB failed"
[ "$("$LCTL" get_param -n jobid_var)" = MYJOB ] || fail "jobid_var did not become MYJOB"

"$LCTL" set_param -n "$OSC.rpc_stats=clear" && "$LCTL" set_param -n "$OSC.stats=clear" || fail "clearing the OSC stats failed"
has_job_stats=no
if "$LCTL" list_param obdfilter.*.job_stats >/dev/null 2>&1; then
    has_job_stats=yes
    "$LCTL" set_param -n obdfilter.*.job_stats=clear
fi
"$LUSTRE_BIN/lfs" setstripe -c 2 -S 1M "$MOUNT/jobfile" || fail "lfs setstripe failed"
MYJOB=job42 dd if=/dev/urandom of="$MOUNT/jobfile" bs=1M count=6 conv=fsync status=none || fail "dd failed"
bytes=$((6 << 20))

# rpc_stats: the write RPCs in the "pages per rpc" table, nothing left in flight or pending.
"$LCTL" get_param "$OSC.rpc_stats" >"$TEST_DIR/rpc_stats.out" || fail "get_param $OSC.rpc_stats failed"
assert_contains "$TEST_DIR/rpc_stats.out" "^write RPCs in flight: 0$"
assert_contains "$TEST_DIR/rpc_stats.out" "^pending write pages:  0$"
assert_contains "$TEST_DIR/rpc_stats.out" "^pages per rpc         rpcs   % cum % |       rpcs   % cum %$"
writes=$(awk '/^pages per rpc/ { t = 1; next } t && /^$/ { t = 0 } t { w += $6 } END { print w + 0 }' \
    "$TEST_DIR/rpc_stats.out")
[ "$writes" -ge 2 ] || fail "rpc_stats shows $writes write RPCs for 6 MiB over 2 OSTs"
log "rpc_stats: $writes write RPCs"

# stats: write_bytes of the OSCs sum to the bytes written.
sum=$("$LCTL" get_param -n "$OSC.stats" | awk '$1 == "write_bytes" { s += $7 } END { print s + 0 }')
[ "$sum" = "$bytes" ] || fail "$OSC.stats write_bytes sum to $sum, dd wrote $bytes"
"$LCTL" get_param -n "$OSC.stats" >"$TEST_DIR/osc_stats.out" || fail "get_param $OSC.stats failed"
assert_contains "$TEST_DIR/osc_stats.out" "^ost_write "

# import: both OSCs and the MDC connected.
# (Output goes to files first: with pipefail, `lctl | grep -q` fails when grep stops reading early.)
"$LCTL" get_param -n "$OSC.import" >"$TEST_DIR/osc_import.out" || fail "get_param $OSC.import failed"
[ "$(grep -c '^    state: FULL$' "$TEST_DIR/osc_import.out")" = 2 ] || fail "$OSC.import: not 2 FULL"
"$LCTL" get_param -n mdc.*.import >"$TEST_DIR/mdc_import.out" || fail "get_param mdc.*.import failed"
assert_contains "$TEST_DIR/mdc_import.out" '^    state: FULL$'
# mdc rpc_stats: the create and close were modify RPCs, none left out.
"$LCTL" get_param -n mdc.*.rpc_stats >"$TEST_DIR/mdc_rpc_stats.out" || fail "get_param mdc.*.rpc_stats failed"
assert_contains "$TEST_DIR/mdc_rpc_stats.out" "^modify_RPCs_in_flight:  0$"
modifies=$(awk '/^rpcs in flight        rpcs   % cum %$/ { t = 1; next } t && /^$/ { t = 0 } t { m += $2 } END { print m + 0 }' \
    "$TEST_DIR/mdc_rpc_stats.out")
[ "$modifies" -ge 2 ] || fail "mdc rpc_stats counts $modifies modify RPCs, the create and close at least"
assert_contains "$TEST_DIR/osc_import.out" '^       current_connection: "'"$TEST_NET"'\.[23]@tcp"$'

# Writing to rpc_stats clears it.
"$LCTL" set_param -n "$OSC.rpc_stats=0"
left=$("$LCTL" get_param -n "$OSC.rpc_stats" | awk '/^pages per rpc/ { t = 1; next } t && /^$/ { t = 0 } t { w += $6 } END { print w + 0 }')
[ "$left" = 0 ] || fail "rpc_stats still counts $left write RPCs after being cleared"

if [ "$has_job_stats" = yes ]; then
    # job42's write_bytes over both OSTs: exactly what dd wrote.
    jobsum=$("$LCTL" get_param -n obdfilter.*.job_stats | awk '
        /^- job_id:/ { job = $3 }
        job == "job42" && /write_bytes:/ { for (i = 1; i <= NF; i++) if ($i == "sum:") { v = $(i + 1); sub(",", "", v); s += v } }
        END { print s + 0 }')
    [ "$jobsum" = "$bytes" ] || fail "obdfilter job_stats: job42 wrote $jobsum bytes, dd wrote $bytes"
    log "job_stats: job42 wrote $jobsum bytes"
    # procname_uid: the same through dd's name and uid.
    "$LCTL" set_param jobid_var=procname_uid >/dev/null || fail "set_param jobid_var=procname_uid failed"
    dd if=/dev/zero of="$MOUNT/jobfile2" bs=64k count=4 conv=fsync status=none || fail "second dd failed"
    "$LCTL" get_param -n obdfilter.*.job_stats >"$TEST_DIR/job_stats.out" || fail "get_param job_stats failed"
    assert_contains "$TEST_DIR/job_stats.out" "^- job_id: *dd\.$(id -u)$"
    # nodelocal: jobid_name, expanded.
    "$LCTL" set_param jobid_var=nodelocal >/dev/null && "$LCTL" set_param jobid_name=batch_%u >/dev/null ||
        fail "set_param jobid_var=nodelocal jobid_name=batch_%u failed"
    dd if=/dev/zero of="$MOUNT/jobfile3" bs=64k count=2 conv=fsync status=none || fail "third dd failed"
    "$LCTL" get_param -n obdfilter.*.job_stats >"$TEST_DIR/job_stats.out" || fail "get_param job_stats failed"
    assert_contains "$TEST_DIR/job_stats.out" "^- job_id: *batch_$(id -u)$"
    # A library client names its job itself.
    "$LUSTRE_BIN/llite-bench" write --mgs "$TEST_NET.1@tcp" --accept-port "$TEST_PORT" --source "$TEST_NET.20@tcp" \
        --size 2 --stripe-count 1 --file bench.dat --jobid bench7 >"$TEST_DIR/bench.log" 2>&1 || fail "llite-bench failed"
    benchsum=$("$LCTL" get_param -n obdfilter.*.job_stats | awk '
        /^- job_id:/ { job = $3 }
        job == "bench7" && /write_bytes:/ { for (i = 1; i <= NF; i++) if ($i == "sum:") { v = $(i + 1); sub(",", "", v); s += v } }
        END { print s + 0 }')
    [ "$benchsum" = $((2 << 20)) ] || fail "job bench7 of llite-bench wrote $benchsum bytes, not 2 MiB"
else
    log "obdfilter.*.job_stats not there yet: job_stats checks skipped"
fi
pass
