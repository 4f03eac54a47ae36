#!/usr/bin/env bash
# statahead.sh: cold `stat` walkers through the mount, with statahead's lookups batched in
# MDS_BATCH RPCs (`llite.*.statahead_batch_max`, default 32) and sent one RPC each
# (`statahead_batch_max=0`), alternating in one run on one filesystem, beside the same walkers on
# a directory of the local filesystem. One walker stats one directory's files in name order;
# then WALKERS walkers stat one directory each at once; then WALKERS walkers share one directory
# (walker k stats every WALKERS-th name from the k-th: lookups in one directory at once, which
# the kernel serialises unless the mount has FUSE_PARALLEL_DIROPS). Caches are dropped before
# every pass.
# Also the MDS's and the client's CPU per stat (user + system, /proc), the figure that decides
# throughput on a machine the MDS shares with its clients. Figures are medians of ROUNDS.
# Prints `RESULT statahead <figure> <value> <unit>` and `RATIO statahead <figure> <value>`
# (batched / one RPC each; batched / local). Not a test: it asserts nothing. Needs root.
#
# Environment: FILES (5000 per directory), WALKERS (4), ROUNDS (3), LUSTRE_BIN (release build),
# BENCH_NET (127.0.13), BENCH_PORT (19983).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
FILES=${FILES:-5000}
WALKERS=${WALKERS:-4}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/lustre-bench-statahead.XXXXXX)
export FSNAME=sabench MDSCOUNT=1 OSTCOUNT=2 TMP=$WORK MOUNT=$WORK/mnt NETADDR=${BENCH_NET:-127.0.13}
export PORT=${BENCH_PORT:-19983} LUSTRE_BIN STRIPE_COUNT=2 STRIPE_SIZE=1M
export OSTSIZE=$((4 * 1024 * 1024)) MDSSIZE=$((4 * 1024 * 1024))
# llmount.sh puts every daemon's admin socket here, so lctl reaches this filesystem and no other.
export LUSTRE_RUN_DIR=$WORK/lustre-$FSNAME/run

note() { echo "statahead.sh: $*" >&2; }
finish() {
    bash "$REPO/tests/llmountcleanup.sh" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap finish EXIT
[ "$(id -u)" = 0 ] || { note "needs root (mounts, drop_caches)"; exit 1; }
for tool in mount.lustre lustre-mds lustre-oss mkfs.lustre lctl; do
    [ -x "$LUSTRE_BIN/$tool" ] || { note "$LUSTRE_BIN/$tool missing (make release)"; exit 1; }
done
command -v python3 >/dev/null || { note "python3 missing"; exit 1; }
bash tests/llmount.sh >"$WORK/llmount.out" 2>&1 || { cat "$WORK/llmount.out" >&2; exit 1; }
pid_of() { awk -v role="$1" '$1 == role {print $2}' "$WORK/lustre-$FSNAME/pids"; }
mds=$(pid_of mds)
client=$(pid_of client)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
lctl() { "$LUSTRE_BIN/lctl" "$@"; }

# make DIR...: FILES empty files in each, f000000 on, through one stream; prints creates/s.
cat >"$WORK/make.py" <<'PY'
import os, sys, time
n = int(sys.argv[1]); start = time.monotonic()
for d in sys.argv[2:]:
    os.mkdir(d)
    for i in range(n):
        os.close(os.open(os.path.join(d, 'f%06d' % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
print('%.1f' % (n * (len(sys.argv) - 2) / (time.monotonic() - start)))
PY
# walk DIR...: one process per directory stats its files in name order; prints stats/s overall.
# With SHARED=W: W processes share the one directory given, each every W-th name.
cat >"$WORK/walk.py" <<'PY'
import os, sys, time
n, dirs = int(sys.argv[1]), sys.argv[2:]
shared = int(os.environ.get('SHARED', '0'))
work = [(dirs[0], k, shared) for k in range(shared)] if shared else [(d, 0, 1) for d in dirs]
os.sync()
with open('/proc/sys/vm/drop_caches', 'w') as f:
    f.write('3\n')
start = time.monotonic(); children = []
for d, first, step in work:
    pid = os.fork()
    if pid == 0:
        for i in range(first, n, step):
            os.stat(os.path.join(d, 'f%06d' % i))
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print('%.1f' % (n * len(dirs) / (time.monotonic() - start)))
PY

dirs=() local_dirs=()
for i in $(seq "$WALKERS"); do dirs+=("$MOUNT/d$i"); local_dirs+=("$WORK/local/d$i"); done
mkdir -p "$WORK/local"
note "creating $WALKERS x $FILES files through the mount and locally"
create_rate=$(python3 "$WORK/make.py" "$FILES" "${dirs[@]}") || { note "creates through the mount failed"; exit 1; }
python3 "$WORK/make.py" "$FILES" "${local_dirs[@]}" >/dev/null || { note "local creates failed"; exit 1; }

declare -A samples
# measure LABEL DIR...: one pass; records stats/s and, for the mount, CPU per stat.
measure() {
    local label=$1 m0 c0 rate; shift
    m0=$(ticks "$mds"); c0=$(ticks "$client")
    rate=$(python3 "$WORK/walk.py" "$FILES" "$@") || { note "walk $label failed"; exit 1; }
    samples[$label]+=" $rate"
    if [[ $label != local* ]]; then
        local stats=$((FILES * $#))
        samples[${label}_mds_cpu]+=" $(python3 -c "print(round(($(ticks "$mds") - $m0) / $tick * 1e6 / $stats, 1))")"
        samples[${label}_client_cpu]+=" $(python3 -c "print(round(($(ticks "$client") - $c0) / $tick * 1e6 / $stats, 1))")"
    fi
}
for round in $(seq "$ROUNDS"); do
    for mode in batched single; do
        if [ $mode = batched ]; then batch=16; else batch=0; fi
        lctl set_param -n "llite.*.statahead_batch_max=$batch" >/dev/null || { note "set_param failed"; exit 1; }
        measure "${mode}_1" "${dirs[0]}"
        measure "${mode}_$WALKERS" "${dirs[@]}"
    done
    lctl set_param -n "llite.*.statahead_batch_max=16" >/dev/null || { note "set_param failed"; exit 1; }
    SHARED=$WALKERS measure "shared_$WALKERS" "${dirs[0]}"
    measure local_1 "${local_dirs[0]}"
    measure "local_$WALKERS" "${local_dirs[@]}"
    SHARED=$WALKERS measure "localshared_$WALKERS" "${local_dirs[0]}"
    note "round $round: $(for k in "${!samples[@]}"; do echo -n "$k=${samples[$k]##* } "; done)"
done

median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print(round(statistics.median(v), 1) if v else 0)' "$@"; }
ratio() { python3 -c "print(round($1 / $2, 3) if float($2) > 0 else 0)"; }
declare -A value
for key in "${!samples[@]}"; do
    # shellcheck disable=SC2086
    value[$key]=$(median ${samples[$key]})
done
echo
echo "statahead: $WALKERS directories x $FILES files, cold stat walkers, median of $ROUNDS (stats/s; CPU us per stat)"
printf '%-10s %12s %12s %12s %16s %16s\n' walkers batched "one RPC each" local "batched MDS/cli" "single MDS/cli"
for w in 1 "$WALKERS"; do
    printf '%-10s %12s %12s %12s %16s %16s\n' "$w" "${value[batched_$w]}" "${value[single_$w]}" "${value[local_$w]}" \
        "${value[batched_${w}_mds_cpu]}/${value[batched_${w}_client_cpu]}" "${value[single_${w}_mds_cpu]}/${value[single_${w}_client_cpu]}"
done
printf '%-10s %12s %12s %12s %16s\n' "$WALKERS in 1" "${value[shared_$WALKERS]}" "" "${value[localshared_$WALKERS]}" \
    "${value[shared_${WALKERS}_mds_cpu]}/${value[shared_${WALKERS}_client_cpu]}"
echo
echo "RESULT statahead create_1 $create_rate ops/s"
echo "RESULT statahead shared_stat_$WALKERS ${value[shared_$WALKERS]} ops/s"
echo "RESULT statahead local_shared_stat_$WALKERS ${value[localshared_$WALKERS]} ops/s"
echo "RATIO statahead shared_vs_local_stat_$WALKERS $(ratio "${value[shared_$WALKERS]}" "${value[localshared_$WALKERS]}")"
for w in 1 "$WALKERS"; do
    for mode in batched single local; do echo "RESULT statahead ${mode}_stat_$w ${value[${mode}_$w]} ops/s"; done
    for mode in batched single; do
        echo "RESULT statahead ${mode}_mds_cpu_$w ${value[${mode}_${w}_mds_cpu]} us"
        echo "RESULT statahead ${mode}_client_cpu_$w ${value[${mode}_${w}_client_cpu]} us"
    done
    echo "RATIO statahead batched_vs_single_stat_$w $(ratio "${value[batched_$w]}" "${value[single_$w]}")"
    echo "RATIO statahead batched_vs_local_stat_$w $(ratio "${value[batched_$w]}" "${value[local_$w]}")"
    echo "RATIO statahead batched_vs_single_cpu_$w $(ratio "$(python3 -c "print(${value[batched_${w}_mds_cpu]} + ${value[batched_${w}_client_cpu]})")" \
        "$(python3 -c "print(${value[single_${w}_mds_cpu]} + ${value[single_${w}_client_cpu]})")")"
done
