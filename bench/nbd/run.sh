#!/bin/bash
# NBD export benchmark: blockd against qemu-storage-daemon 7.2 (and qemu-nbd) on the same images,
# with the same clients (nbdcopy, fio's nbd engine), the daemons taking turns. See bench/README.md.
#
#   bench/nbd/run.sh [--runs N | --repeat N] [--size-mib N] [--fio-seconds N] [--no-build] [--aot] [--json FILE]
#   --repeat N: each workload (row) N times in a row, the daemons alternating within it, for a
#   median and spread per row on a machine too busy for one run to mean anything.
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/nbd/run.sh    # qsd against qsd: the noise floor
set -euo pipefail

runs=3
repeat=0
size_mib=1024
fio_seconds=10
build=1
aot=0
json=""
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --fio-seconds) fio_seconds=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        --json) json=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done

case $runs$repeat in *[!0-9]*) echo "bench/nbd: --runs and --repeat take a whole number" >&2; exit 1 ;; esac
[ "$runs" -ge 1 ] || { echo "bench/nbd: --runs must be at least 1" >&2; exit 1; }
# In --repeat mode every row is measured $repeat times; the figures below are over those.
[ "$repeat" -gt 0 ] && runs=$repeat

root=$(cd "$(dirname "$0")/../.." && pwd)
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
blockd=${BLOCKD:-$root/src/BlockDaemon/bin/Release/net10.0/blockd}
for tool in nbdcopy fio qemu-img qemu-nbd jq "$qsd"; do
    command -v "$tool" >/dev/null || { echo "bench/nbd: $tool is missing (apt-get install libnbd-bin fio qemu-utils jq)" >&2; exit 1; }
done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "bench/nbd: this fio has no nbd engine" >&2; exit 1; }
# --aot measures the binary that ships (Native AOT); the default JIT build also pays for
# compiling its hot paths in every freshly started daemon, which is most of its CPU in a short run.
if [ "$aot" = 1 ] && [ -z "${BLOCKD:-}" ]; then
    blockd=$root/artifacts/aot/blockd
    if [ "$build" = 1 ]; then
        dotnet publish -c Release -r linux-x64 -o "$root/artifacts/aot" "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/nbd: the AOT publish of blockd failed" >&2; exit 1; }
    fi
elif [ "$build" = 1 ] && [ -z "${BLOCKD:-}" ]; then
    dotnet build -c Release "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/nbd: the Release build of blockd failed" >&2; exit 1; }
fi
[ -x "$blockd" ] || { echo "bench/nbd: blockd not found at $blockd" >&2; exit 1; }

work=$(mktemp -d /tmp/blockd-nbd-bench.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
# Measurements run in command substitutions, where exit would only end the subshell.
trap 'exit 1' TERM
fail() { echo "bench/nbd: $*" >&2; kill -TERM $$; exit 1; }

echo "preparing images in $work (${size_mib} MiB of random data)" >&2
dd if=/dev/urandom of="$work/data.raw" bs=1M count="$size_mib" status=none
qemu-img convert -O qcow2 "$work/data.raw" "$work/data.qcow2"
qemu-img create -q -f qcow2 "$work/sparse.qcow2" 1T
sock=$work/nbd.sock

# start DAEMON IMAGE FORMAT WRITABLE: serves IMAGE as export "x" on $sock.
start() {
    local daemon=$1 image=$2 format=$3 writable=$4
    rm -f "$sock"
    case $daemon in
        qemu-nbd)
            local ro=(-r); [ "$writable" = on ] && ro=()
            qemu-nbd -k "$sock" -f "$format" -x x -e 16 --persistent --cache=writeback "${ro[@]}" "$image" </dev/null >/dev/null 2>&1 &
            ;;
        *)
            local bin=$qsd; [ "$daemon" = blockd ] && bin=$blockd
            "$bin" --blockdev "driver=file,node-name=f0,filename=$image" --blockdev "driver=$format,node-name=n0,file=f0" \
                --nbd-server "addr.type=unix,addr.path=$sock" --export "type=nbd,id=e0,node-name=n0,name=x,writable=$writable" \
                </dev/null >/dev/null 2>&1 &
            ;;
    esac
    pid=$!
    for _ in $(seq 200); do
        [ -S "$sock" ] && nbdinfo --size "nbd+unix:///x?socket=$sock" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { echo "bench/nbd: $daemon exited during start-up" >&2; exit 1; }
        sleep 0.05
    done
    echo "bench/nbd: $daemon did not start listening" >&2; exit 1
}

stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

uri() { echo "nbd+unix:///x?socket=$sock"; }

# seconds taken by a command (bounded by a timeout)
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    timeout 600 "$@" >/dev/null 2>&1 || fail "failed: $*"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# fio at queue depth 16 with 4 KiB blocks; prints seconds per operation (lower is better).
fio_op() {
    local rw=$1 out
    out=$(timeout $((fio_seconds + 120)) fio --name=b --ioengine=nbd --uri="$(uri)" --rw="$rw" --bs=4k --iodepth=16 \
        --size="${size_mib}M" --runtime="$fio_seconds" --time_based --randrepeat=0 --norandommap --output-format=json 2>/dev/null) \
        || fail "fio $rw failed"
    # fio's nbd engine prints a line of its own before the JSON.
    out=$(echo "$out" | sed -n '/^{/,$p')
    local iops
    iops=$(echo "$out" | jq "if \"$rw\" == \"randread\" then .jobs[0].read.iops else .jobs[0].write.iops end")
    echo "1 / $iops" | bc -l
}

declare -A samples
record() { samples[$1,$2]+="$3 "; }

workloads=(seq-read-raw seq-read-qcow2 seq-write-qcow2 rand-read-4k-qd16 rand-write-4k-qd16 sparse-1t-read)
daemons=(blockd qsd qemu-nbd)

# measure WORKLOAD DAEMON: one sample of one row, on a freshly started daemon.
measure() {
    local w=$1 daemon=$2
    case $w in
        seq-read-raw)
            start "$daemon" "$work/data.raw" raw off
            record "$w" "$daemon" "$(timed nbdcopy "$(uri)" null:)" ;;
        seq-read-qcow2)
            start "$daemon" "$work/data.qcow2" qcow2 off
            record "$w" "$daemon" "$(timed nbdcopy "$(uri)" null:)" ;;
        rand-read-4k-qd16)
            start "$daemon" "$work/data.qcow2" qcow2 off
            record "$w" "$daemon" "$(fio_op randread)" ;;
        rand-write-4k-qd16)
            cp "$work/data.qcow2" "$work/rw.qcow2"
            start "$daemon" "$work/rw.qcow2" qcow2 on
            record "$w" "$daemon" "$(fio_op randwrite)" ;;
        seq-write-qcow2)
            qemu-img create -q -f qcow2 "$work/fresh.qcow2" "${size_mib}M"
            start "$daemon" "$work/fresh.qcow2" qcow2 on
            record "$w" "$daemon" "$(timed nbdcopy "$work/data.raw" "$(uri)")" ;;
        sparse-1t-read)
            start "$daemon" "$work/sparse.qcow2" qcow2 off
            record "$w" "$daemon" "$(timed nbdcopy "$(uri)" null:)" ;;
    esac
    stop
}

if [ "$repeat" -gt 0 ]; then
    # Row by row: the N samples of a row are taken minutes apart at most, and blockd's i-th
    # sample sits next to qsd's i-th, so each pair meets the same machine load.
    for w in "${workloads[@]}"; do
        for i in $(seq "$repeat"); do
            for daemon in "${daemons[@]}"; do
                echo "$w $i/$repeat: $daemon" >&2
                measure "$w" "$daemon"
            done
        done
    done
else
    for run in $(seq "$runs"); do
        for daemon in "${daemons[@]}"; do
            echo "run $run/$runs: $daemon" >&2
            for w in "${workloads[@]}"; do
                measure "$w" "$daemon"
            done
        done
    done
fi

# The ceiling: the same bytes read from the page cache with dd (warm first).
dd if="$work/data.raw" of=/dev/null bs=1M status=none
t0=$(date +%s.%N); dd if="$work/data.raw" of=/dev/null bs=1M status=none; t1=$(date +%s.%N)
dd_seconds=$(echo "$t1 - $t0" | bc -l)

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# spread: (max - min) / median of the samples, in per cent.
spread() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.0f", (m > 0 ? 100 * (a[NR] - a[1]) / m : 0)}'; }
# ratios A B: the sample-by-sample time ratios A[i]/B[i] (samples taken side by side).
ratios() { paste -d/ <(echo "$1" | tr ' ' '\n' | grep -v '^$') <(echo "$2" | tr ' ' '\n' | grep -v '^$') | bc -l | tr '\n' ' '; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo, hi}'; }
unit() {
    case $1 in
        rand-*) awk -v s="$2" 'BEGIN {printf "%9.0f IOPS", 1 / s}' ;;
        sparse-*) awk -v s="$2" 'BEGIN {printf "%9.3f s   ", s}' ;;
        *) awk -v s="$2" -v m="$size_mib" 'BEGIN {printf "%9.1f MiB/s", m / s}' ;;
    esac
}

printf '\n%-20s %22s %22s %22s %18s %18s\n' workload "blockd (spread)" "qsd (spread)" "qemu-nbd (spread)" "blockd/qsd [range]" "qemu-nbd/qsd"
json_rows=()
for w in "${workloads[@]}"; do
    b=$(echo "${samples[$w,blockd]}" | median)
    q=$(echo "${samples[$w,qsd]}" | median)
    n=$(echo "${samples[$w,qemu-nbd]}" | median)
    bq=$(ratios "${samples[$w,blockd]}" "${samples[$w,qsd]}")
    nq=$(ratios "${samples[$w,qemu-nbd]}" "${samples[$w,qsd]}")
    printf '%-20s %16s %4s%% %16s %4s%% %16s %4s%% %5.2f [%s] %5.2f [%s]\n' "$w" \
        "$(unit "$w" "$b")" "$(echo "${samples[$w,blockd]}" | spread)" \
        "$(unit "$w" "$q")" "$(echo "${samples[$w,qsd]}" | spread)" \
        "$(unit "$w" "$n")" "$(echo "${samples[$w,qemu-nbd]}" | spread)" \
        "$(echo "$bq" | median)" "$(echo "$bq" | minmax)" "$(echo "$nq" | median)" "$(echo "$nq" | minmax)"
    list() { echo "$1" | tr ' ' '\n' | grep -v '^$' | paste -sd, -; }
    json_rows+=("{\"workload\":\"$w\",\"blockd\":$b,\"qsd\":$q,\"qemu-nbd\":$n,\"samples\":{\"blockd\":[$(list "${samples[$w,blockd]}")],\"qsd\":[$(list "${samples[$w,qsd]}")],\"qemu-nbd\":[$(list "${samples[$w,qemu-nbd]}")]}}")
done
b=$(echo "${samples[seq-read-raw,blockd]}" | median)
printf '\nceiling: dd from the page cache %.1f MiB/s; blockd seq-read-raw / dd time: %.2f\n' \
    "$(echo "$size_mib / $dd_seconds" | bc -l)" "$(echo "$b / $dd_seconds" | bc -l)"
if [ "$repeat" -gt 0 ]; then
    echo "(each row repeated $repeat times, daemons alternating: median per unit of work; spread = (max - min) / median;"
else
    echo "(times per unit of work, median of $runs runs; spread = (max - min) / median;"
fi
echo " ratios: median of the side-by-side time ratios [lowest-highest]; lower is better for the numerator)"
if [ -n "$json" ]; then
    (IFS=,; echo "{\"runs\":$runs,\"repeat\":$repeat,\"size_mib\":$size_mib,\"dd_seconds\":$dd_seconds,\"results\":[${json_rows[*]}]}") | jq . > "$json"
fi
