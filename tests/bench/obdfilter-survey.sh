#!/usr/bin/env bash
# obdfilter-survey: Lustre's local OST benchmark, on our OSD beside fio.
#
# Write, rewrite and read of OBJECTS objects of SIZE_MB each with 1 MiB I/Os at queue depths
# QDS, through the OSD (the gated OSDSurvey test in Tests/OSDTests drives it) and through fio on
# the same ext4 directory, with the same engine, sizes and depth, in the same run:
#   io_uring  buffered          fio --ioengine=io_uring
#   libaio    O_DIRECT          fio --ioengine=libaio --direct=1
#   sync      buffered          fio --ioengine=psync (QD > 1: that many jobs, one file each)
# Both sides count writes once durable (fio end_fsync=1; the OSD's sync(), i.e. syncfs), read
# cold (the page cache dropped before each read phase, as fio's invalidate=1 does for its files),
# and neither preallocates (fio --fallocate=none: the OSD does not fallocate either).
# Prints a table, `RESULT obdfilter-survey <figure> <MB/s> MB/s` and
# `RATIO obdfilter-survey <figure> <ours/fio>`.  Not a test: it asserts nothing.
#
# The disk of a shared VM is noisy: each configuration runs REPEAT times, ours and fio
# alternating, and the median of each figure is reported.
#
# Environment: OBJECTS (4), SIZE_MB (256), QDS ("1 8 32"), ENGINES ("io_uring libaio sync"), REPEAT (3),
# DIR (/tmp: must be ext4 or similar, with O_DIRECT), SCRATCH_PATH (.build),
# CONFIG (debug; "release" builds with -enable-testing).
set -uo pipefail
cd "$(dirname "$0")/../.."
OBJECTS=${OBJECTS:-4}
SIZE_MB=${SIZE_MB:-256}
QDS=${QDS:-"1 8 32"}
ENGINES=${ENGINES:-"io_uring libaio sync"}
DIR=${DIR:-/tmp}
SCRATCH_PATH=${SCRATCH_PATH:-.build}
CONFIG=${CONFIG:-debug}
REPEAT=${REPEAT:-3}

command -v fio >/dev/null || { echo "obdfilter-survey.sh: fio missing (apt-get install fio)" >&2; exit 1; }
work=$(mktemp -d "$DIR/obdfilter-survey.XXXXXX")
trap 'rm -rf "$work"' EXIT

build_flags=(--scratch-path "$SCRATCH_PATH" -c "$CONFIG")
[ "$CONFIG" = release ] && build_flags+=(-Xswiftc -enable-testing)
swift build "${build_flags[@]}" --build-tests >"$work/build.log" 2>&1 ||
    echo "obdfilter-survey.sh: build reported errors (see below); using the test binary as built" >&2
grep -E "error:" "$work/build.log" >&2

drop_caches() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches; }

# fio_phase ENGINE QD RW: prints MB/s.
fio_phase() {
    local engine=$1 qd=$2 rw=$3 dir="$work/fio-$1-$2" args
    mkdir -p "$dir"
    args=(--name=survey --directory="$dir" --bs=1M --rw="$rw" --fallocate=none --group_reporting
          --output-format=json)
    case $engine in
        io_uring) args+=(--ioengine=io_uring --direct=0 --iodepth="$qd") ;;
        libaio) args+=(--ioengine=libaio --direct=1 --iodepth="$qd") ;;
        sync) args+=(--ioengine=psync --direct=0) ;;
    esac
    if [ "$engine" = sync ] && [ "$qd" -gt 1 ]; then
        args+=(--numjobs="$qd" --nrfiles=1 --size=$((OBJECTS * SIZE_MB / qd))M)
    else
        args+=(--nrfiles="$OBJECTS" --filesize="${SIZE_MB}M" --size=$((OBJECTS * SIZE_MB))M)
    fi
    [ "$rw" = write ] && args+=(--end_fsync=1)
    [ "$rw" = read ] && drop_caches
    fio "${args[@]}" >"$work/fio.json" 2>"$work/fio.err" || { cat "$work/fio.err" >&2; echo 0; return; }
    python3 -c '
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
print(round(job[sys.argv[2]]["bw_bytes"] / 1e6, 1))' "$work/fio.json" "$([ "$rw" = read ] && echo read || echo write)"
}

median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:] if x]; print(round(statistics.median(v), 1) if v else 0)' "$@"; }

declare -A ours theirs
figures=()
for engine in $ENGINES; do
    for qd in $QDS; do
        declare -A runs_ours=() runs_fio=()
        for _ in $(seq "$REPEAT"); do
            # Ours, then fio, per repetition, so both see the same machine state.
            OSD_SURVEY=1 OSD_SURVEY_DIR="$work" OSD_SURVEY_OBJECTS="$OBJECTS" OSD_SURVEY_SIZE_MB="$SIZE_MB" \
                OSD_SURVEY_QDS="$qd" OSD_SURVEY_ENGINES="$engine" \
                swift test --scratch-path "$SCRATCH_PATH" -c "$CONFIG" --skip-build --filter OSDSurvey \
                >"$work/osd.out" 2>&1
            grep -q '^SURVEY osd' "$work/osd.out" || { echo "OSD survey produced nothing:" >&2; tail -20 "$work/osd.out" >&2; }
            for phase in write rewrite read; do
                runs_ours[$phase]+=" $(awk -v p="$phase" '$1 == "SURVEY" && $5 == p { print $6 }' "$work/osd.out")"
            done
            rm -rf "$work/fio-$engine-$qd"
            runs_fio[write]+=" $(fio_phase "$engine" "$qd" write)"
            runs_fio[rewrite]+=" $(fio_phase "$engine" "$qd" write)"
            runs_fio[read]+=" $(fio_phase "$engine" "$qd" read)"
            rm -rf "$work/fio-$engine-$qd"
        done
        for phase in write rewrite read; do
            figure="${engine}_qd${qd}_${phase}"
            figures+=("$figure")
            # shellcheck disable=SC2086
            ours[$figure]=$(median ${runs_ours[$phase]})
            # shellcheck disable=SC2086
            theirs[$figure]=$(median ${runs_fio[$phase]})
            echo "$figure: OSD${runs_ours[$phase]} | fio${runs_fio[$phase]}" >&2
        done
    done
done

ratio() { python3 -c "print(round(${1:-0} / $2, 3) if float($2 or 0) > 0 else 0)"; }
echo
echo "obdfilter-survey: $OBJECTS objects x $SIZE_MB MiB, 1 MiB I/O, median of $REPEAT, on $(df --output=fstype "$work" | tail -1) ($DIR)"
printf '%-24s %12s %12s %8s\n' "figure" "OSD MB/s" "fio MB/s" "ratio"
for figure in "${figures[@]}"; do
    printf '%-24s %12s %12s %8s\n' "$figure" "${ours[$figure]:-0}" "${theirs[$figure]:-0}" \
        "$(ratio "${ours[$figure]:-0}" "${theirs[$figure]:-0}")"
done
echo
for figure in "${figures[@]}"; do
    echo "RESULT obdfilter-survey $figure ${ours[$figure]:-0} MB/s"
    echo "RESULT obdfilter-survey fio_$figure ${theirs[$figure]:-0} MB/s"
done
for figure in "${figures[@]}"; do
    echo "RATIO obdfilter-survey $figure $(ratio "${ours[$figure]:-0}" "${theirs[$figure]:-0}")"
done
