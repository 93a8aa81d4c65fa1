#!/bin/bash
# Backup: full and incremental (10% dirty) blockdev-backup of a 1 GiB disk, each with and without
# a guest doing 4 KiB random writes at a fixed rate through an NBD export, and the guest's write
# latency with no bitmap, 1 and 16 recording bitmaps, and under a running backup; blockd against
# qemu-storage-daemon 7.2 with the same command line and the same QMP commands, the daemons
# taking turns. See bench/README.md.
#
#   bench/backup/run.sh [--runs N] [--size-mib N] [--rate N] [--window SECS] [--quick]
#                       [--no-build] [--aot] [--json FILE]
#   --quick: 256 MiB and 1.5 s latency windows (about a minute on a busy 2-core machine)
#   --aot: measure the Native-AOT publish output (the shipped form of blockd, no JIT warm-up)
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/backup/run.sh    # qsd against qsd: the noise floor
set -euo pipefail

runs=1
size_mib=1024
rate=200
window=3
build=1
aot=0
json=""
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --quick) size_mib=256; window=1.5; shift ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        --json) json=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/backup
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
. "$root/bench/lib.sh"
bench_require backup qemu-img qemu-io python3 "$qsd"
bench_blockd backup "$root" "$aot" "$build"

bench_workdir backup

# The disk: fully allocated, one pattern (untimed, once).
echo "preparing the disk in $work (${size_mib} MiB)" >&2
mkdir -p "$work/golden"
qemu-img create -q -f qcow2 "$work/golden/disk.qcow2" "${size_mib}M"
qemu-io -c "write -P 1 0 ${size_mib}M" "$work/golden/disk.qcow2" >/dev/null
sock=$work/qmp.sock
nbd=$work/nbd.sock
targets=(t-full-idle t-full-writer t-inc-idle t-inc-writer)

# start DAEMON: the disk and the empty targets of $work/run as nodes, the disk exported.
start() {
    local bin=$qsd
    [ "$1" = blockd ] && bin=$blockd
    rm -f "$sock" "$nbd"
    local args=(--chardev "socket,id=m0,path=$sock,server=on,wait=off" --monitor chardev=m0
        --blockdev "driver=file,node-name=disk-f,filename=$work/run/disk.qcow2" --blockdev driver=qcow2,node-name=disk,file=disk-f)
    for t in "${targets[@]}"; do
        args+=(--blockdev "driver=file,node-name=$t-f,filename=$work/run/$t.qcow2" --blockdev "driver=qcow2,node-name=$t,file=$t-f")
    done
    "$bin" "${args[@]}" --nbd-server "addr.type=unix,addr.path=$nbd" --export nbd,id=disk,node-name=disk,name=disk,writable=on \
        </dev/null >"$work/daemon.log" 2>&1 &
    pid=$!
    bench_wait_sockets backup "$1" "$sock" "$nbd"
}


daemons=(blockd qsd)
declare -A samples

for run in $(seq "$runs"); do
    # Odd runs start with blockd, even runs with qsd: the first slot of a run pays more.
    order=("${daemons[@]}")
    ((run % 2 == 0)) && order=(qsd blockd)
    for daemon in "${order[@]}"; do
        echo "run $run/$runs: $daemon" >&2
        # Every run starts from a fresh copy of the disk and empty targets (untimed).
        rm -rf "$work/run"; cp -r "$work/golden" "$work/run"
        for t in "${targets[@]}"; do qemu-img create -q -f qcow2 "$work/run/$t.qcow2" "${size_mib}M"; done
        sync
        # Two full backups and two small incremental ones: about 2.2 GiB of new data per run.
        bench_pretouch $((size_mib * 5 / 2))
        start "$daemon"
        out=$(timeout 900 python3 "$here/backup_bench.py" "$sock" "$nbd" disk "$rate" "$window") \
            || { bench_stop; cat "$work/daemon.log" >&2; echo "bench/backup: $daemon failed" >&2; exit 1; }
        bench_stop
        # The first full backup ran before any write: it must be the disk as it started.
        qemu-img compare -q "$work/golden/disk.qcow2" "$work/run/t-full-idle.qcow2" \
            || { echo "bench/backup: $daemon: the full backup differs from the disk" >&2; exit 1; }
        samples[$daemon]+="$out"$'\n'
    done
done

# median FIELD: the median of FIELD over the JSON lines on stdin.
median() { python3 -c 'import json,sys,statistics; print(round(statistics.median(json.loads(l)[sys.argv[1]] for l in sys.stdin if l.strip()), 3))' "$1"; }

metrics=(full_idle full_writer inc_idle inc_writer
    lat_none_p50_ms lat_none_p99_ms lat_bm1_p50_ms lat_bm1_p99_ms lat_bm16_p50_ms lat_bm16_p99_ms lat_bm16t_p50_ms lat_bm16t_p99_ms
    lat_backup_p50_ms lat_backup_p99_ms)
printf '\n%-20s %10s %10s %12s\n' metric blockd qsd "blockd/qsd"
json_rows=()
for metric in "${metrics[@]}"; do
    b=$(printf '%s' "${samples[blockd]}" | median "$metric")
    q=$(printf '%s' "${samples[qsd]}" | median "$metric")
    ratio=$(python3 -c 'import sys; b, q = map(float, sys.argv[1:]); print(f"{b / q:.2f}" if q else "null")' "$b" "$q")
    printf '%-20s %10s %10s %12s\n' "$metric" "$b" "$q" "$ratio"
    json_rows+=("{\"metric\": \"$metric\", \"blockd\": $b, \"qsd\": $q, \"ratio\": $ratio}")
done

if [ -n "$json" ]; then
    raw=()
    for daemon in "${daemons[@]}"; do
        lines=$(printf '%s' "${samples[$daemon]}" | grep -v '^$' | paste -sd, -)
        raw+=("{\"daemon\": \"$daemon\", \"samples\": [$lines]}")
    done
    (IFS=,; echo "{\"size-mib\": $size_mib, \"runs\": $runs, \"rate\": $rate, \"window\": $window, \"rows\": [${json_rows[*]}], \"samples\": [${raw[*]}]}") > "$json"
fi
