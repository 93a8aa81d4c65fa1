#!/usr/bin/env bash
# bitmaps: dirty-bitmap costs of blockd next to qsd 7.2 (see bitmap_bench.py for the workloads):
# 4 KiB NBD writes with 0/1/16 recording bitmaps, persistent bitmaps on qcow2, and merge/clear of
# 16 Mi-bit bitmaps (1 TiB at 64 KiB). Builds blockd in Release first.
#
#   bench/bitmaps/run.sh [--quick] [--reps N] [--count N] [--json FILE]
#   BLOCKD=/usr/bin/qemu-storage-daemon bench/bitmaps/run.sh   # qsd vs qsd: the noise floor
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
blockd="${BLOCKD:-}"
if [[ -z "$blockd" ]]; then
    dotnet build -c Release -v q "$repo/src/BlockDaemon" >/dev/null
    blockd="$repo/src/BlockDaemon/bin/Release/net10.0/blockd"
fi
exec python3 "$repo/bench/bitmaps/bitmap_bench.py" --blockd "$blockd" "$@"
