#!/bin/bash
# Mirror: blockdev-mirror sync=full of a 1 GiB chain to BLOCK_JOB_READY, then block-job-complete,
# blockd against qemu-storage-daemon 7.2 with the same command line and the same QMP commands,
# the daemons taking turns; once with no guest and once with a guest doing 4 KiB random writes
# at a fixed rate through an NBD export of the disk. See bench/README.md.
#
# Two more workloads put the guest's write latency under a write-blocking mirror ("blocking") and
# with no job at all ("nojob", the guest alone for --nojob-s seconds) next to the background
# mirror's ("writer"); the overhead table divides each mode's p50/p99 by nojob's.
#
#   bench/mirror/run.sh [--runs N] [--size-mib N] [--rate N] [--nojob-s N] [--no-build] [--aot] [--json FILE]
#   --aot: measure the Native-AOT publish output (the shipped form of blockd, no JIT warm-up)
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/mirror/run.sh    # qsd against qsd: the noise floor
set -euo pipefail

runs=1
size_mib=1024
rate=200
nojob_s=3
build=1
aot=0
json=""
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --nojob-s) nojob_s=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        --json) json=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/mirror
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
. "$root/bench/lib.sh"
bench_require mirror qemu-img qemu-io python3 bc "$qsd"
bench_blockd mirror "$root" "$aot" "$build"

bench_workdir mirror

# The chain: base fully allocated, top rewriting 10% of it in 1 MiB pieces (every 10th MiB).
echo "preparing the chain in $work (${size_mib} MiB)" >&2
mkdir -p "$work/golden"
qemu-img create -q -f qcow2 "$work/golden/base.qcow2" "${size_mib}M"
qemu-io -c "write -P 1 0 ${size_mib}M" "$work/golden/base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$work/golden/top.qcow2"
top_cmds=()
for ((m = 0; m < size_mib; m++)); do
    ((m % 10 == 5)) && top_cmds+=(-c "write -P 3 ${m}M 1M")
done
qemu-io "${top_cmds[@]}" "$work/golden/top.qcow2" >/dev/null
sock=$work/qmp.sock
nbd=$work/nbd.sock

# start DAEMON: the chain in $work/run as nodes base and top, an empty target, top exported.
start() {
    local bin=$qsd
    [ "$1" = blockd ] && bin=$blockd
    rm -f "$sock" "$nbd"
    "$bin" --chardev "socket,id=m0,path=$sock,server=on,wait=off" --monitor chardev=m0 \
        --blockdev "driver=file,node-name=base-f,filename=$work/run/base.qcow2" --blockdev driver=qcow2,node-name=base,file=base-f \
        --blockdev "driver=file,node-name=top-f,filename=$work/run/top.qcow2" --blockdev driver=qcow2,node-name=top,file=top-f,backing=base \
        --blockdev "driver=file,node-name=target-f,filename=$work/run/target.qcow2" --blockdev driver=qcow2,node-name=target,file=target-f \
        --nbd-server "addr.type=unix,addr.path=$nbd" --export nbd,id=disk,node-name=top,name=disk,writable=on \
        </dev/null >"$work/daemon.log" 2>&1 &
    pid=$!
    bench_wait_sockets mirror "$1" "$sock" "$nbd"
}


workloads=(idle writer blocking nojob)
daemons=(blockd qsd)
declare -A samples

for run in $(seq "$runs"); do
    for workload in "${workloads[@]}"; do
        for daemon in "${daemons[@]}"; do
            echo "run $run/$runs: $workload on $daemon" >&2
            # Every mirror starts from the same fresh copy of the chain and an empty target (untimed).
            rm -rf "$work/run"; cp -r "$work/golden" "$work/run"
            qemu-img create -q -f qcow2 "$work/run/target.qcow2" "${size_mib}M"; sync
            bench_pretouch $((size_mib * 3 / 2))
            start "$daemon"
            r=$rate; mode=background
            case $workload in
                idle) r=0 ;;
                blocking) mode=write-blocking ;;
                nojob) mode=nojob:$nojob_s ;;
            esac
            out=$(timeout 900 python3 "$here/mirror_bench.py" "$sock" "$nbd" disk "$r" "$mode") \
                || { bench_stop; echo "bench/mirror: $workload on $daemon failed" >&2; exit 1; }
            bench_stop
            # The copy must hold what the source held at completion (the guest's writes included).
            [ "$workload" = nojob ] || qemu-img compare -q "$work/run/top.qcow2" "$work/run/target.qcow2" \
                || { echo "bench/mirror: $workload on $daemon: the target differs from the source" >&2; exit 1; }
            samples[$workload,$daemon]+="$out"$'\n'
        done
    done
done

# median FIELD: the median of FIELD over the JSON lines on stdin.
median() { python3 -c 'import json,sys,statistics; print(round(statistics.median(json.loads(l)[sys.argv[1]] for l in sys.stdin if l.strip()), 3))' "$1"; }

printf '\n%-8s %-12s %10s %10s %12s\n' workload metric blockd qsd "blockd/qsd"
json_rows=()
for workload in "${workloads[@]}"; do
    metrics=(ready total)
    [ "$workload" = nojob ] && metrics=()
    [ "$workload" != idle ] && metrics+=(p50_ms p99_ms writes)
    for metric in "${metrics[@]}"; do
        b=$(printf '%s' "${samples[$workload,blockd]}" | median "$metric")
        q=$(printf '%s' "${samples[$workload,qsd]}" | median "$metric")
        ratio=$(echo "scale=2; $b / $q" | bc -l 2>/dev/null | sed 's/^\./0./' || echo "-")
        printf '%-8s %-12s %10s %10s %12s\n' "$workload" "$metric" "$b" "$q" "$ratio"
        json_rows+=("{\"workload\": \"$workload\", \"metric\": \"$metric\", \"blockd\": $b, \"qsd\": $q, \"ratio\": ${ratio:-null}}")
    done
done

# The guest's write latency under each copy mode relative to no job, per daemon.
printf '\n%-10s %-8s %14s %14s %12s\n' mode metric "blockd/nojob" "qsd/nojob" "blockd/qsd"
for workload in writer blocking; do
    for metric in p50_ms p99_ms; do
        declare -A over=()
        for daemon in "${daemons[@]}"; do
            w=$(printf '%s' "${samples[$workload,$daemon]}" | median "$metric")
            n=$(printf '%s' "${samples[nojob,$daemon]}" | median "$metric")
            over[$daemon]=$(echo "scale=2; $w / $n" | bc -l 2>/dev/null || echo "-")
        done
        ratio=$(echo "scale=2; ${over[blockd]} / ${over[qsd]}" | bc -l 2>/dev/null || echo "-")
        label=background; [ "$workload" = blocking ] && label=write-blocking
        printf '%-10s %-8s %14s %14s %12s\n' "$label" "$metric" "${over[blockd]}" "${over[qsd]}" "$ratio"
        json_rows+=("{\"workload\": \"$workload-overhead\", \"metric\": \"$metric\", \"blockd\": ${over[blockd]}, \"qsd\": ${over[qsd]}, \"ratio\": ${ratio:-null}}")
    done
done

if [ -n "$json" ]; then
    # The medians, plus every sample as mirror_bench.py printed it.
    raw=()
    for workload in "${workloads[@]}"; do
        for daemon in "${daemons[@]}"; do
            lines=$(printf '%s' "${samples[$workload,$daemon]}" | grep -v '^$' | paste -sd, -)
            raw+=("{\"workload\": \"$workload\", \"daemon\": \"$daemon\", \"samples\": [$lines]}")
        done
    done
    (IFS=,; echo "{\"size-mib\": $size_mib, \"runs\": $runs, \"rate\": $rate, \"rows\": [${json_rows[*]}], \"samples\": [${raw[*]}]}") > "$json"
fi
