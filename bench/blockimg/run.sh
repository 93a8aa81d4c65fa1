#!/bin/bash
# blockimg vs qemu-img: convert and commit of a backing chain, side by side (see bench/README.md).
# Usage: bench/blockimg/run.sh [--size 1G] [--rounds 3] [--blockimg PATH] [--json FILE]
# Point --blockimg at qemu-img itself to measure the noise floor of the machine.
set -euo pipefail
size=1G; rounds=3; blockimg=""; json=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --blockimg) blockimg="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "qemu-img is not installed" >&2; exit 1; }
command -v qemu-io >/dev/null || { echo "qemu-io is not installed" >&2; exit 1; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "$blockimg" ]; then
  dotnet publish "$root/src/BlockDaemon.ImageTool" -c Release -o "$root/bench/blockimg/out" >/dev/null
  blockimg="$root/bench/blockimg/out/blockimg"
fi
[ -x "$blockimg" ] || { echo "no blockimg executable at $blockimg" >&2; exit 1; }
work="$(mktemp -d /tmp/blockimg-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT

bytes=$(qemu-img create -q -f raw "$work/probe" "$size" && stat -c %s "$work/probe"); rm -f "$work/probe"
half=$((bytes / 2)); quarter=$((bytes / 4))
# The chain: a base with random data in its first half, an overlay rewriting a quarter in the middle
# and adding zeroes; the same images serve every round (convert reads them, commit works on copies).
head -c "$half" /dev/urandom > "$work/data"
qemu-img convert -f raw -O qcow2 "$work/data" "$work/base.qcow2"
qemu-img resize -q "$work/base.qcow2" "$size"
rm -f "$work/data"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$work/top.qcow2"
qemu-io -f qcow2 -c "write -P 0x5a $quarter $quarter" -c "write -z $((half + quarter)) $quarter" "$work/top.qcow2" >/dev/null

now() { date +%s.%N; }
time_cmd() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }

declare -A total
for op in convert convert-c commit; do total[$op,q]=0; total[$op,b]=0; done
for round in $(seq 1 "$rounds"); do
  for tool in q b; do
    bin=$([ $tool = q ] && echo qemu-img || echo "$blockimg")
    rm -f "$work/out.qcow2"
    t=$(time_cmd "$bin" convert -O qcow2 "$work/top.qcow2" "$work/out.qcow2"); total[convert,$tool]=$(echo "${total[convert,$tool]} + $t" | bc)
    rm -f "$work/out.qcow2"
    t=$(time_cmd "$bin" convert -c -O qcow2 "$work/top.qcow2" "$work/out.qcow2"); total[convert-c,$tool]=$(echo "${total[convert-c,$tool]} + $t" | bc)
    rm -f "$work/out.qcow2"
    cp "$work/base.qcow2" "$work/cbase.qcow2"; qemu-img create -q -f qcow2 -b cbase.qcow2 -F qcow2 "$work/ctop.qcow2"
    qemu-io -f qcow2 -c "write -P 0x5a $quarter $quarter" -c "write -z $((half + quarter)) $quarter" "$work/ctop.qcow2" >/dev/null
    t=$(time_cmd "$bin" commit "$work/ctop.qcow2"); total[commit,$tool]=$(echo "${total[commit,$tool]} + $t" | bc)
    rm -f "$work/cbase.qcow2" "$work/ctop.qcow2"
  done
done
printf "%-12s %12s %12s %8s\n" "operation" "qemu-img s" "blockimg s" "ratio"
out="{"
for op in convert convert-c commit; do
  q=$(echo "scale=3; ${total[$op,q]} / $rounds" | bc); b=$(echo "scale=3; ${total[$op,b]} / $rounds" | bc)
  r=$(echo "scale=2; $b / $q" | bc)
  printf "%-12s %12s %12s %8s\n" "$op" "$q" "$b" "$r"
  out="$out\"$op\": {\"qemu-img\": $q, \"blockimg\": $b, \"ratio\": $r},"
done
echo "(size $size, $rounds rounds, mean seconds per run; ratio = blockimg / qemu-img, lower is better)"
[ -n "$json" ] && echo "${out%,}}" > "$json"
exit 0
