#!/bin/bash
# CPU seconds a daemon spends per GiB served (utime+stime of its process across one client run),
# blockd then qsd right after it, for each workload. On a loaded machine wall time is noise; the
# daemon's own CPU time is not (much). See bench/README.md, section nbd.
#
#   bench/nbd/cpu.sh [--runs N] [--size-mib N] [--rand-mib N] [--no-build] [--aot]
set -euo pipefail

runs=3
size_mib=512
rand_mib=64
build=1
aot=0
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --rand-mib) rand_mib=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
blockd=${BLOCKD:-$root/src/BlockDaemon/bin/Release/net10.0/blockd}
for tool in nbdcopy nbdinfo fio qemu-img jq "$qsd"; do
    command -v "$tool" >/dev/null || { echo "bench/nbd: $tool is missing" >&2; exit 1; }
done
# --aot measures the binary that ships (Native AOT); the default JIT build also pays for
# compiling its hot paths in every freshly started daemon, which is most of its CPU in a short run.
if [ "$aot" = 1 ] && [ -z "${BLOCKD:-}" ]; then
    blockd=$root/artifacts/aot/blockd
    if [ "$build" = 1 ]; then
        dotnet publish -c Release -r linux-x64 -o "$root/artifacts/aot" "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/nbd: the AOT publish of blockd failed" >&2; exit 1; }
    fi
elif [ "$build" = 1 ] && [ -z "${BLOCKD:-}" ]; then
    dotnet build -c Release "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/nbd: build failed" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/blockd-nbd-cpu.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

dd if=/dev/urandom of="$work/data.raw" bs=1M count="$size_mib" status=none
qemu-img convert -O qcow2 "$work/data.raw" "$work/data.qcow2"
sock=$work/nbd.sock
uri="nbd+unix:///x?socket=$sock"
tck=$(getconf CLK_TCK)

start() {
    local daemon=$1 image=$2 format=$3 writable=$4 bin=$qsd
    [ "$daemon" = blockd ] && bin=$blockd
    rm -f "$sock"
    "$bin" --blockdev "driver=file,node-name=f0,filename=$image" --blockdev "driver=$format,node-name=n0,file=f0" \
        --nbd-server "addr.type=unix,addr.path=$sock" --export "type=nbd,id=e0,node-name=n0,name=x,writable=$writable" \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 400); do
        [ -S "$sock" ] && nbdinfo --size "$uri" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "bench/nbd: $daemon did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
cpu() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$pid/stat"; }

# measure NAME MIB CMD...: prints "NAME cpu-s/GiB wall-s"
measure() {
    local name=$1 mib=$2; shift 2
    local c0 c1 t0 t1
    c0=$(cpu); t0=$(date +%s.%N)
    timeout 600 "$@" >/dev/null 2>&1 || { echo "bench/nbd: failed: $*" >&2; exit 1; }
    t1=$(date +%s.%N); c1=$(cpu)
    awk -v n="$name" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v m="$mib" \
        'BEGIN {printf "%-20s %8.3f cpu-s/GiB %8.3f s\n", n, (c1 - c0) * 1024 / m, t1 - t0}'
}

randw=(fio --name=b --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth=16 --size="${size_mib}M"
    --io_size="${rand_mib}M" --randrepeat=0 --norandommap --output-format=json)

dd if="$work/data.raw" of=/dev/null bs=1M status=none
for run in $(seq "$runs"); do
    for daemon in blockd qsd; do
        start "$daemon" "$work/data.raw" raw off
        measure "$daemon seq-read-raw" "$size_mib" nbdcopy "$uri" null:
        stop
        start "$daemon" "$work/data.qcow2" qcow2 off
        measure "$daemon seq-read-qcow2" "$size_mib" nbdcopy "$uri" null:
        stop
        cp "$work/data.qcow2" "$work/rw.qcow2"
        start "$daemon" "$work/rw.qcow2" qcow2 on
        measure "$daemon rand-write-4k" "$rand_mib" "${randw[@]}"
        stop
    done
    t0=$(date +%s.%N); dd if="$work/data.raw" of=/dev/null bs=1M status=none; t1=$(date +%s.%N)
    awk -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%-20s %8s           %8.3f s\n", "dd seq-read-raw", "-", t1 - t0}'
done
