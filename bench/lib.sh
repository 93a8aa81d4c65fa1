# Sourced by the bench/*/run.sh scripts that time blockd against qsd: finding (and building) the
# blockd under test, and a scratch directory that goes away with the script.

# bench_blockd NAME ROOT AOT BUILD: sets $blockd. $BLOCKD wins; otherwise the Release build, or
# with AOT=1 the newest Native-AOT publish output; BUILD=1 builds or publishes it first.
bench_blockd() {
    local name=$1 root=$2 aot=$3 build=$4
    blockd=${BLOCKD:-$root/src/BlockDaemon/bin/Release/net10.0/blockd}
    if [ -z "${BLOCKD:-}" ]; then
        if [ "$aot" = 1 ]; then
            if [ "$build" = 1 ]; then
                dotnet publish -c Release "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/$name: the Native-AOT publish of blockd failed" >&2; exit 1; }
            fi
            blockd=$(ls -t "$root"/src/BlockDaemon/bin/Release/net10.0/*/publish/blockd 2>/dev/null | head -n 1 || true)
            [ -n "$blockd" ] || { echo "bench/$name: no Native-AOT output under src/BlockDaemon/bin/Release/net10.0/*/publish/" >&2; exit 1; }
        elif [ "$build" = 1 ]; then
            dotnet build -c Release "$root/src/BlockDaemon" -v q -nologo >/dev/null || { echo "bench/$name: the Release build of blockd failed" >&2; exit 1; }
        fi
    fi
    [ -x "$blockd" ] || { echo "bench/$name: blockd not found at $blockd" >&2; exit 1; }
    echo "bench/$name: blockd is $blockd" >&2
}

# bench_require NAME TOOL...: every tool must be on the PATH (or an executable path).
bench_require() {
    local name=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "bench/$name: $tool is missing" >&2; exit 1; }
    done
}

# bench_workdir NAME: sets $work to a fresh scratch directory and $pid to "". On exit the daemon
# whose pid the script keeps in $pid is killed and the directory removed.
bench_workdir() {
    work=$(mktemp -d "/tmp/blockd-$1-bench.XXXXXX")
    pid=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}

# bench_wait_sockets NAME WHO SOCKET...: after starting daemon WHO in the background (its pid in
# $pid, its output in $work/daemon.log), waits up to 10 s for every socket to exist.
bench_wait_sockets() {
    local name=$1 who=$2 s ready
    shift 2
    for _ in $(seq 200); do
        ready=1
        for s in "$@"; do [ -S "$s" ] || ready=0; done
        [ "$ready" = 1 ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; echo "bench/$name: $who exited during start-up" >&2; exit 1; }
        sleep 0.05
    done
    echo "bench/$name: $who did not start listening" >&2; exit 1
}

# bench_stop: stops the daemon in $pid.
bench_stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

# bench_pretouch MIB: writes and deletes MIB MiB of scratch file right before a timed run, so the
# pages the run's writes take from the kernel are ones the guest has touched lately. On a VM with
# free page reporting (this machine: a Firecracker guest, "Free page reporting enabled" in dmesg),
# memory that stayed free is handed back to the host, and the first touch of each such page costs
# a host fault: a plain `dd` of 920 MiB took 0.66-2.0 s that way and 0.15 s right after a
# pretouch. Which daemon ran into such pages was chance, and it decided stream-full's ratio.
bench_pretouch() {
    dd if=/dev/zero of="$work/pretouch" bs=1M count="$1" status=none
    rm -f "$work/pretouch"
}
