#!/usr/bin/env bash
# qmp-latency: build blockd and the bench in Release, then compare blockd with qemu-storage-daemon.
#
#   bench/qmp-latency/run.sh [--aot] [bench options...]
#
#   --aot   (first argument only) publish blockd with Native AOT and benchmark that binary
#           instead of the JIT Release build.
#
# Every other argument goes to the bench (see --help): --runs N, --calls N, --only qsd|blockd,
# --json FILE, --qsd PATH, --blockd PATH, ...
# blockd is not built when BLOCKD is set, when --blockd is given, or with --only qsd.
# The script exports BLOCKD for the binary it built, so a stale Native-AOT publish output is never
# picked up by the bench's own default in its place.
set -euo pipefail

# No cd: relative paths given to the bench (--json, --blockd, --qsd) stay relative to the caller.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

aot=0
if [[ "${1:-}" == "--aot" ]]; then
    aot=1
    shift
fi

build_blockd=1
[[ -n "${BLOCKD:-}" ]] && build_blockd=0
prev=""
for arg in "$@"; do
    [[ "$arg" == "--blockd" ]] && build_blockd=0
    [[ "$prev" == "--only" && "$arg" == "qsd" ]] && build_blockd=0
    prev="$arg"
done

release_dir="$repo/src/BlockDaemon/bin/Release/net10.0"
if (( build_blockd )); then
    if (( aot )); then
        echo "run.sh: publishing blockd (Release, Native AOT)" >&2
        dotnet publish -c Release --nologo -v quiet "$repo/src/BlockDaemon"
        # The newest publish output, whatever runtime identifier the SDK chose.
        blockd="$(ls -t "$release_dir"/*/publish/blockd 2>/dev/null | head -n 1 || true)"
        if [[ -z "$blockd" ]]; then
            echo "run.sh: no Native-AOT output found under $release_dir/*/publish/" >&2
            exit 1
        fi
    else
        echo "run.sh: building blockd (Release)" >&2
        dotnet build -c Release --nologo -v quiet "$repo/src/BlockDaemon"
        blockd="$release_dir/blockd"
    fi
    export BLOCKD="$blockd"
fi

echo "run.sh: building the bench (Release)" >&2
dotnet build -c Release --nologo -v quiet "$repo/bench/QmpLatency"

exec dotnet "$repo/bench/QmpLatency/bin/Release/net10.0/QmpLatency.dll" "$@"
