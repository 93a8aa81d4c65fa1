#!/bin/bash
# Write latency of one guest through an NBD export of a qcow2 node: 4 KiB random writes, one in
# flight, at a fixed rate, no job and no bitmap; blockd and qemu-storage-daemon 7.2 with the same
# command line, the daemons alternating (blockd, qsd, blockd, ...), each started fresh per round.
# See bench/README.md ("NBD write latency").
#
#   bench/nbd/latency.sh [--rounds N] [--seconds S] [--rate N] [--size-mib N] [--no-build] [--aot]
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/nbd/latency.sh --no-build   # the noise floor
set -euo pipefail

rounds=5
seconds=3
rate=200
size_mib=256
build=1
aot=0
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
. "$root/bench/lib.sh"
bench_require nbd-latency qemu-img qemu-io python3 "$qsd"
bench_blockd nbd-latency "$root" "$aot" "$build"
bench_workdir nbd-latency

qemu-img create -q -f qcow2 "$work/disk.qcow2" "${size_mib}M"
qemu-io -c "write -P 1 0 ${size_mib}M" "$work/disk.qcow2" >/dev/null
sock=$work/qmp.sock
nbd=$work/nbd.sock

start() {
    local bin=$qsd
    [ "$1" = blockd ] && bin=$blockd
    rm -f "$sock" "$nbd"
    "$bin" --chardev "socket,id=m0,path=$sock,server=on,wait=off" --monitor chardev=m0 \
        --blockdev "driver=file,node-name=disk-f,filename=$work/disk.qcow2" --blockdev driver=qcow2,node-name=disk,file=disk-f \
        --nbd-server "addr.type=unix,addr.path=$nbd" --export nbd,id=disk,node-name=disk,name=disk,writable=on \
        </dev/null >"$work/daemon.log" 2>&1 &
    pid=$!
    bench_wait_sockets nbd-latency "$1" "$sock" "$nbd"
}

declare -A p50 p99
for round in $(seq "$rounds"); do
    order=(blockd qsd)
    ((round % 2 == 0)) && order=(qsd blockd)
    for daemon in "${order[@]}"; do
        start "$daemon"
        out=$(python3 "$root/bench/nbd/write_latency.py" "$nbd" disk "$rate" "$seconds")
        bench_stop
        echo "round $round $daemon $out" >&2
        p50[$daemon]+="$(jq -r .p50_ms <<<"$out") "
        p99[$daemon]+="$(jq -r .p99_ms <<<"$out") "
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| metric | blockd | qsd | blockd/qsd |\n|---|---|---|---|\n'
for m in p50 p99; do
    declare -n col=$m
    b=$(median <<<"${col[blockd]}"); q=$(median <<<"${col[qsd]}")
    printf '| %s ms (median of %d) | %s | %s | %.2f |\n' "$m" "$rounds" "$b" "$q" "$(echo "$b / $q" | bc -l)"
done
