#!/usr/bin/env bash
# Server-side stats over live daemons (tests/llmount.sh: lustre-mds, 2 lustre-oss, mount.lustre):
# a write through the mount shows in the OSTs' brw_stats and in the stats of the client's export,
# byte for byte; the MDT and the OSTs list the connected clients under exports.<NID>; writing to
# brw_stats clears it.  When the client can tag requests with a job id (jobid_var), the write
# shows in obdfilter.*.job_stats under it too.
TEST_NET=${TEST_NET:-127.0.8}
TEST_PORT=${TEST_PORT:-19920}
. "$(dirname "$0")/test-framework.sh"
start_llmount
MiB=$((1 << 20))

# Every client connection is listed by NID, with its UUID; num_exports counts them.
"$LCTL" get_param mdt.*.exports.*.uuid >"$TEST_DIR/mdt-uuid.out" || fail "get_param mdt.*.exports.*.uuid failed"
cat "$TEST_DIR/mdt-uuid.out"
grep -q "^mdt\.testfs-MDT0000\.exports\.[0-9.]*@tcp\.uuid=" "$TEST_DIR/mdt-uuid.out" || fail "no client export on the MDT"
[ "$("$LCTL" get_param -n mdt.testfs-MDT0000.num_exports)" -ge 1 ] || fail "mdt num_exports is not >= 1"
for ost in testfs-OST0000 testfs-OST0001; do
    # The client's OSC and the MDS's OSP both connect to each OST.
    [ "$("$LCTL" get_param -n "obdfilter.$ost.num_exports")" -ge 2 ] || fail "$ost num_exports is not >= 2"
done

# A job id, if the client can set one: the write below is then counted under it.
JOBID=""
"$LCTL" set_param jobid_var=procname_uid >/dev/null 2>&1
if [ "$("$LCTL" get_param -n jobid_var 2>/dev/null)" = procname_uid ]; then
    JOBID="dd.$(id -u)"
    log "jobid_var=procname_uid: expecting job $JOBID"
else
    log "jobid_var is not settable here: job_stats not checked"
fi

"$LCTL" set_param obdfilter.*.brw_stats=clear obdfilter.*.exports.clear=1 obdfilter.*.job_stats=clear \
    obdfilter.*.stats=clear >/dev/null || fail "clearing the OST stats failed"
"$LUSTRE_BIN/lfs" setstripe -c 2 -S 1M "$MOUNT/striped" || fail "lfs setstripe failed"
dd if=/dev/urandom of="$MOUNT/striped" bs=1M count=8 conv=fsync status=none || fail "dd to the mount failed"

# brw_stats: one write RPC in "pages per bulk r/w" per write counted in the OST's stats.
"$LCTL" get_param obdfilter.*.brw_stats >"$TEST_DIR/brw.out" || fail "get_param obdfilter.*.brw_stats failed"
cat "$TEST_DIR/brw.out"
for table in "pages per bulk r/w" "discontiguous pages" "disk fragmented I/Os" "disk I/Os in flight" \
             "I/O time (1/1000s)" "disk I/O size"; do
    grep -qF "$table" "$TEST_DIR/brw.out" || fail "brw_stats has no '$table' table"
done
brw_rpcs=0
stats_rpcs=0
for ost in testfs-OST0000 testfs-OST0001; do
    rpcs=$("$LCTL" get_param -n "obdfilter.$ost.brw_stats" | awk -F'|' '
        /^pages per bulk/ { on = 1; next }
        on && /^$/ { on = 0 }
        on && /:/ { split($2, w, " "); n += w[1] }
        END { print n + 0 }')
    writes=$("$LCTL" get_param -n "obdfilter.$ost.stats" | awk '$1 == "write" { print $2 }')
    [ "$rpcs" -gt 0 ] || fail "$ost brw_stats counted no write RPC"
    [ "$rpcs" = "${writes:-0}" ] || fail "$ost brw_stats counted $rpcs write RPCs, its stats $writes"
    brw_rpcs=$((brw_rpcs + rpcs))
done
log "brw_stats: $brw_rpcs write RPCs, as many as the OSTs' stats counted"

# The client's exports: their write_bytes add up to the bytes written.
"$LCTL" get_param obdfilter.*.exports.*.stats >"$TEST_DIR/exports.out" || fail "get_param obdfilter.*.exports.*.stats failed"
sum=$(awk '$1 == "write_bytes" { n += $7 } END { print n + 0 }' "$TEST_DIR/exports.out")
[ "$sum" = $((8 * MiB)) ] || fail "the exports counted $sum bytes written, the test wrote $((8 * MiB))"
log "exports: write_bytes $sum = the 8 MiB written through the mount"

if [ -n "$JOBID" ]; then
    "$LCTL" get_param obdfilter.*.job_stats >"$TEST_DIR/jobs.out" || fail "get_param obdfilter.*.job_stats failed"
    sum=$(awk -v job="$JOBID" '
        $1 == "-" && $2 == "job_id:" { on = ($3 == job) }
        on && $1 == "write_bytes:" { for (i = 1; i <= NF; i++) if ($i == "sum:") { v = $(i + 1); sub(",", "", v); n += v } }
        END { print n + 0 }' "$TEST_DIR/jobs.out")
    [ "$sum" = $((8 * MiB)) ] || fail "job $JOBID counted $sum bytes written, the test wrote $((8 * MiB))"
    log "job_stats: $JOBID wrote $sum bytes"
fi

# Writing to brw_stats clears it: no row is left in any table.
"$LCTL" set_param obdfilter.*.brw_stats=0 >/dev/null || fail "set_param obdfilter.*.brw_stats=0 failed"
if "$LCTL" get_param -n obdfilter.*.brw_stats | grep -q ":"$'\t\t'; then
    fail "brw_stats still has rows after a write to it"
fi
pass
