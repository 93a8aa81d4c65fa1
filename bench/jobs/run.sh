#!/bin/bash
# Block jobs: block-stream (full, intermediate) and block-commit (intermediate into a full and into a thin base, active) on the
# same 1 GiB chain, blockd against qemu-storage-daemon 7.2 with the same command line and the same
# QMP commands over the socket, the daemons taking turns. Also prints what `blockimg plan-merge`
# says each direction would move for removing the middle point. See bench/README.md.
#
#   bench/jobs/run.sh [--runs N] [--size-mib N] [--no-build] [--aot] [--json FILE] [--only W[,W...]]
#   --only: run these workloads only (e.g. --only commit-intermediate), for repeated short runs
#   --aot: measure the Native-AOT publish output (the shipped form of blockd, no JIT warm-up)
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/jobs/run.sh    # qsd against qsd: the noise floor
set -euo pipefail

runs=1
size_mib=1024
build=1
aot=0
json=""
only=""
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --aot) aot=1; shift ;;
        --json) json=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/jobs
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
blockimg=${BLOCKIMG:-$root/src/BlockDaemon.ImageTool/bin/Release/net10.0/blockimg}
. "$root/bench/lib.sh"
bench_require jobs qemu-img qemu-io python3 bc "$qsd"
bench_blockd jobs "$root" "$aot" "$build"
if [ "$build" = 1 ] && [ -z "${BLOCKIMG:-}" ]; then
    dotnet build -c Release "$root/src/BlockDaemon.ImageTool" -v q -nologo >/dev/null || { echo "bench/jobs: the Release build of blockimg failed" >&2; exit 1; }
fi

bench_workdir jobs

# The chain, base first: base fully allocated, mid rewrites 25% and top 10%, both spread over the
# disk in 1 MiB pieces (every 4th and every 10th MiB) so that every job walks the whole image.
echo "preparing the chain in $work (${size_mib} MiB)" >&2
mkdir -p "$work/golden"
qemu-img create -q -f qcow2 "$work/golden/base.qcow2" "${size_mib}M"
qemu-io -c "write -P 1 0 ${size_mib}M" "$work/golden/base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$work/golden/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$work/golden/top.qcow2"
mid_cmds=(); top_cmds=()
for ((m = 0; m < size_mib; m++)); do
    ((m % 4 == 0)) && mid_cmds+=(-c "write -P 2 ${m}M 1M")
    ((m % 10 == 5)) && top_cmds+=(-c "write -P 3 ${m}M 1M")
done
qemu-io "${mid_cmds[@]}" "$work/golden/mid.qcow2" >/dev/null
qemu-io "${top_cmds[@]}" "$work/golden/top.qcow2" >/dev/null
# The same chain over an empty base (a thin base image, as when the base was never written in
# full): committing into it allocates every cluster it copies, so the qcow2 allocation path and
# the growth of base's file are in the measurement, not only overwrites.
mkdir -p "$work/golden-thin"
qemu-img create -q -f qcow2 "$work/golden-thin/base.qcow2" "${size_mib}M"
cp "$work/golden/mid.qcow2" "$work/golden/top.qcow2" "$work/golden-thin/"
sock=$work/qmp.sock

# start DAEMON: opens the chain in $work/run as nodes base, mid, top.
start() {
    local bin=$qsd
    [ "$1" = blockd ] && bin=$blockd
    rm -f "$sock"
    "$bin" --chardev "socket,id=m0,path=$sock,server=on,wait=off" --monitor chardev=m0 \
        --blockdev "driver=file,node-name=base-f,filename=$work/run/base.qcow2" --blockdev driver=qcow2,node-name=base,file=base-f \
        --blockdev "driver=file,node-name=mid-f,filename=$work/run/mid.qcow2" --blockdev driver=qcow2,node-name=mid,file=mid-f,backing=base \
        --blockdev "driver=file,node-name=top-f,filename=$work/run/top.qcow2" --blockdev driver=qcow2,node-name=top,file=top-f,backing=mid \
        </dev/null >"$work/daemon.log" 2>&1 &
    pid=$!
    bench_wait_sockets jobs "$1" "$sock"
}


declare -A job_cmd=(
    [stream-full]='{"execute": "block-stream", "arguments": {"job-id": "j", "device": "top"}}'
    [stream-intermediate]='{"execute": "block-stream", "arguments": {"job-id": "j", "device": "mid"}}'
    [commit-intermediate]='{"execute": "block-commit", "arguments": {"job-id": "j", "device": "top", "top-node": "mid", "base-node": "base"}}'
    [commit-intermediate-thin]='{"execute": "block-commit", "arguments": {"job-id": "j", "device": "top", "top-node": "mid", "base-node": "base"}}'
    [commit-active]='{"execute": "block-commit", "arguments": {"job-id": "j", "device": "top", "base-node": "base"}}'
)
workloads=(stream-full stream-intermediate commit-intermediate commit-intermediate-thin commit-active)
if [ -n "$only" ]; then
    IFS=, read -r -a workloads <<<"$only"
    for workload in "${workloads[@]}"; do
        [ -n "${job_cmd[$workload]:-}" ] || { echo "bench/jobs: unknown workload $workload" >&2; exit 2; }
    done
fi
daemons=(blockd qsd)
declare -A samples durable

for run in $(seq "$runs"); do
    for workload in "${workloads[@]}"; do
        for daemon in "${daemons[@]}"; do
            echo "run $run/$runs: $workload on $daemon" >&2
            # Every job starts from the same fresh copy of the chain (untimed).
            golden=$work/golden; [ "$workload" = commit-intermediate-thin ] && golden=$work/golden-thin
            rm -rf "$work/run"; cp -r "$golden" "$work/run"; sync
            bench_pretouch $((size_mib * 3 / 2))
            start "$daemon"
            active=0; [ "$workload" = commit-active ] && active=1
            # The client flushes every image after the job: the second figure is when the
            # result is on the disk, which blockd guarantees at BLOCK_JOB_COMPLETED and qsd does not.
            t=$(timeout 900 python3 "$here/qmp_job.py" "$sock" "$active" "${job_cmd[$workload]}" \
                "$work/run/base.qcow2" "$work/run/mid.qcow2" "$work/run/top.qcow2") \
                || { bench_stop; echo "bench/jobs: $workload on $daemon failed" >&2; exit 1; }
            bench_stop
            samples[$workload,$daemon]+="${t% *} "
            durable[$workload,$daemon]+="${t#* } "
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
printf '\n%-26s %10s %10s %12s   %14s %14s %12s\n' workload "blockd s" "qsd s" "blockd/qsd" "blockd+sync s" "qsd+sync s" "blockd/qsd"
json_rows=()
for workload in "${workloads[@]}"; do
    b=$(echo "${samples[$workload,blockd]}" | median)
    q=$(echo "${samples[$workload,qsd]}" | median)
    bd=$(echo "${durable[$workload,blockd]}" | median)
    qd=$(echo "${durable[$workload,qsd]}" | median)
    r=$(ratio "$b" "$q"); rd=$(ratio "$bd" "$qd")
    printf '%-26s %10.3f %10.3f %12.2f   %14.3f %14.3f %12.2f\n' "$workload" "$b" "$q" "$r" "$bd" "$qd" "$rd"
    json_rows+=("{\"workload\": \"$workload\", \"blockd\": [${samples[$workload,blockd]// /, }], \"qsd\": [${samples[$workload,qsd]// /, }], \"ratio\": $r, \"blockd-durable\": [${durable[$workload,blockd]// /, }], \"qsd-durable\": [${durable[$workload,qsd]// /, }], \"durable-ratio\": $rd}")
done
echo "(+sync: up to the end of the client's fdatasync of every image after BLOCK_JOB_COMPLETED)"

echo
echo "Removing the middle point (mid.qcow2), from blockimg plan-merge:"
if [ -x "$blockimg" ]; then
    "$blockimg" plan-merge --remove-point 1 "$work/golden/top.qcow2" | sed 's/^/  /'
else
    echo "  (blockimg not found at $blockimg)"
fi

if [ -n "$json" ]; then
    (IFS=,; echo "{\"size-mib\": $size_mib, \"runs\": $runs, \"workloads\": [${json_rows[*]}]}") | sed 's/, ]/]/g' > "$json"
fi
