#!/usr/bin/env bash
# qcow2: blockd's qcow2 driver, in process (bench/Qcow2Bench), next to QEMU 7.2 on the same
# machine and the same images: qemu-img bench for qemu-img's own orders, qemu-io driven with the
# very same offsets for random order. Prints a table of times, blockd/qemu ratios and MB/s.
#
#   bench/qcow2/run.sh [--quick] [--reps N] [--only LIST] [--dir DIR] [--keep] [--json FILE] [--verbose]
#
#   --quick      smoke run: small counts, one repetition (seconds, figures not meaningful)
#   --reps N     runs per side and workload, the two sides taking turns (default 3; median reported)
#   --only LIST  comma-separated workload names (see the table), e.g. --only seq-write-4k,rss-1t
#   --dir DIR    where images go (default: a new directory under ${TMPDIR:-/var/tmp})
#   --keep       keep images and per-run logs
#   --json FILE  also write every run's figures as JSON
#   --verbose    print each run's full output (blockd's includes per-node I/O counts)
#
# Exit codes: 0 table printed; 1 some run failed (its row says FAILED, its log is printed);
# 2 bad command line or a missing tool.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
quick=0 reps="" only="" dir="" keep=0 json="" verbose=0
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --reps) reps="${2:?--reps needs a value}"; shift ;;
        --only) only="${2:?--only needs a value}"; shift ;;
        --dir) dir="${2:?--dir needs a value}"; shift ;;
        --keep) keep=1 ;;
        --json) json="${2:?--json needs a value}"; shift ;;
        --verbose) verbose=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -z "$reps" ]] && reps=$(( quick ? 1 : 3 ))
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps takes a positive number" >&2; exit 2; }
[[ -n "$json" ]] && json="$(realpath -m "$json")"

for tool in qemu-img qemu-io stdbuf timeout awk dotnet; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (qemu-utils, coreutils, .NET SDK)" >&2; exit 2; }
done
have_time=0; [[ -x /usr/bin/time ]] && have_time=1

echo "run.sh: building Qcow2Bench (Release)" >&2
dotnet build -c Release --nologo -v quiet "$repo/bench/Qcow2Bench" >&2
bench=(dotnet "$repo/bench/Qcow2Bench/bin/Release/net10.0/Qcow2Bench.dll")

if [[ -n "$dir" ]]; then
    mkdir -p "$dir"; work="$(mktemp -d "$dir/qcow2-bench.XXXXXX")"
else
    work="$(mktemp -d "${TMPDIR:-/var/tmp}/qcow2-bench.XXXXXX")"
fi
cleanup() { if ((keep)); then echo "run.sh: images and logs kept in $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sizes: every timed run takes at least about a second on a 2-core machine (see bench/README.md).
if ((quick)); then
    n_seqw=8192 n_scat=4096 n_randw=4096 n_r64=4096 n_r4=16384 n_c64=4096 n_c4=16384 n_rss=1000
else
    n_seqw=131072 n_scat=131072 n_randw=65536 n_r64=163840 n_r4=262144 n_c64=98304 n_c4=262144 n_rss=10000
fi
weyl=$((162013 * 4096))   # odd multiple of 4 KiB near 0.618 GiB: visits the 4 KiB slots of 1 GiB in a scattered order
fill=0xa5
qi=(qemu-img)
qb=(qemu-img bench -f qcow2 -t writeback -i threads)

log() { echo "$@" >&2; }
selected() { [[ -z "$only" ]] || [[ ",$only," == *",$1,"* ]]; }

# ---- images ---------------------------------------------------------------------------------
fresh() {  # fresh FMT SIZE FILE
    rm -f "$3"
    "${qi[@]}" create -q -f "$1" "$3" "$2"
}
prepare_allocated() {
    [[ -f "$work/alloc.qcow2" ]] && return
    log "run.sh: preparing a fully allocated 1 GiB image (every byte 0x5a)"
    fresh qcow2 1G "$work/alloc.qcow2"
    "${qb[@]}" -q -w -s 1M -c 1024 -d 16 --pattern=0x5a "$work/alloc.qcow2" >/dev/null
}
prepare_chain() {
    [[ -f "$work/top.qcow2" ]] && return
    log "run.sh: preparing base <- mid <- top (64 KiB stripe k holds 0x11/0x22/0x33 for k mod 3 = 0/1/2, each from its own layer)"
    fresh qcow2 1G "$work/base.qcow2"
    "${qb[@]}" -q -w -s 1M -c 1024 -d 16 --pattern=0x11 "$work/base.qcow2" >/dev/null
    "${qi[@]}" create -q -f qcow2 -b base.qcow2 -F qcow2 "$work/mid.qcow2"
    "${qb[@]}" -q -w -s 64k -S 192k -o 64k -c 5461 --pattern=0x22 "$work/mid.qcow2" >/dev/null
    "${qi[@]}" create -q -f qcow2 -b mid.qcow2 -F qcow2 "$work/top.qcow2"
    "${qb[@]}" -q -w -s 64k -S 192k -o 128k -c 5461 --pattern=0x33 "$work/top.qcow2" >/dev/null
}

# ---- one run --------------------------------------------------------------------------------
# run_side LOGFILE CMD...: runs CMD (bounded), under /usr/bin/time when present; sets
# r_secs r_cpu r_hwm from the "Run completed" line, the RESULT line or /usr/bin/time.
run_side() {
    local logfile="$1"; shift
    local tfile="$logfile.time" rc=0
    if ((have_time)) && [[ "$1" == qemu-img ]]; then
        timeout 600 /usr/bin/time -f "%e %U %S %M" -o "$tfile" "$@" >"$logfile" 2>&1 || rc=$?
    else
        timeout 600 "$@" >"$logfile" 2>&1 || rc=$?
    fi
    ((verbose)) && { echo "---- $*" >&2; cat "$logfile" >&2; }
    r_secs="" r_cpu="" r_hwm=""
    if ((rc != 0)); then
        log "run.sh: FAILED (exit $rc): $*"; tail -n 25 "$logfile" | sed 's/^/    /' >&2
        return 1
    fi
    r_secs="$(awk '/^Run completed in/ {print $4}' "$logfile" | tail -n 1)"
    local result; result="$(grep '^RESULT ' "$logfile" | tail -n 1 || true)"
    if [[ -n "$result" ]]; then
        r_cpu="$(sed -n 's/.* cpu=\([^ ]*\).*/\1/p' <<<"$result")"
        r_hwm="$(sed -n 's/.* hwm_kb=\([^ ]*\).*/\1/p' <<<"$result")"
    elif [[ -f "$tfile" ]]; then
        read -r _ u s m < <(tail -n 1 "$tfile")
        r_cpu="$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')"; r_hwm="$m"
    fi
    [[ -n "$r_secs" ]] || { log "run.sh: no 'Run completed' line from: $*"; return 1; }
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

rows=()          # "name|blockd secs|qemu secs|bytes|blockd cpu|qemu cpu|note|blockd runs|qemu runs"
json_runs=()
failed=0

# workload NAME BYTES PREP QEMU_CMD... -- BLOCKD_CMD...   (IMG in a command is replaced by the image;
# PREP is "fresh:FMT:SIZE" for a new image before every run, or a function name and an image path)
workload() {
    local name="$1" bytes="$2" prep="$3"; shift 3
    selected "$name" || return 0
    local -a qcmd=() bcmd=(); local side=q
    for a in "$@"; do
        if [[ "$a" == -- ]]; then side=b; continue; fi
        if [[ $side == q ]]; then qcmd+=("$a"); else bcmd+=("$a"); fi
    done
    local img ok=1 rep order who bs=() qs=() bc=() qc=() note="" nreps=$reps
    # Peak memory barely varies from run to run, and qemu's side of it is slow (a flush per new L2 table).
    [[ "$name" == rss-* ]] && nreps=1
    for ((rep = 1; rep <= nreps; rep++)); do
        # Alternate who goes first, so drift in machine load hits both sides alike.
        if ((rep % 2)); then order="q b"; else order="b q"; fi
        for who in $order; do
            case "$prep" in
                fresh:*) IFS=: read -r _ fmt size <<<"$prep"; img="$work/fresh.$fmt"; fresh "$fmt" "$size" "$img" ;;
                *) img="${prep#*:}"; "${prep%%:*}" ;;
            esac
            local -a cmd=()
            if [[ $who == q ]]; then cmd=("${qcmd[@]}"); else cmd=("${bcmd[@]}"); fi
            cmd=("${cmd[@]/#IMG/$img}")
            if [[ $who == b && $rep -gt 1 ]]; then   # check the data once; later runs only time
                local -a stripped=(); local skip=0
                for a in "${cmd[@]}"; do
                    if ((skip)); then skip=0; continue; fi
                    case "$a" in --verify) skip=1; continue ;; --read-back) continue ;; esac
                    stripped+=("$a")
                done
                cmd=("${stripped[@]}")
            fi
            if run_side "$work/$name.$who.$rep.log" "${cmd[@]}"; then
                if [[ $who == q ]]; then qs+=("$r_secs"); qc+=("$r_cpu"); else bs+=("$r_secs"); bc+=("$r_cpu"); fi
                json_runs+=("{\"workload\":\"$name\",\"side\":\"$([[ $who == q ]] && echo qemu || echo blockd)\",\"rep\":$rep,\"secs\":$r_secs,\"cpu\":${r_cpu:-null},\"hwm_kb\":${r_hwm:-null}}")
                if [[ "$name" == rss-* ]]; then
                    if [[ $who == q ]]; then q_hwm="$r_hwm"; else b_hwm="$r_hwm"; b_base="$(sed -n 's/.* rss_before_open_kb=\([^ ]*\).*/\1/p' "$work/$name.$who.$rep.log")"; fi
                fi
            else
                ok=0; failed=1
                if ((!keep)) && cp "$work/$name.$who.$rep.log" "${TMPDIR:-/var/tmp}/qcow2-bench-$name-$who.log"; then
                    log "run.sh: log kept in ${TMPDIR:-/var/tmp}/qcow2-bench-$name-$who.log"
                fi
            fi
        done
    done
    local bm qm
    bm="$(echo "${bs[*]:-}" | median)"; qm="$(echo "${qs[*]:-}" | median)"
    log "$(printf 'run.sh: %-26s blockd %-28s qemu %s' "$name" "${bs[*]:-FAILED}" "${qs[*]:-FAILED}")"
    ((ok)) || note="FAILED"
    rows+=("$name|${bm:-}|${qm:-}|$bytes|$(echo "${bc[*]:-}" | median)|$(echo "${qc[*]:-}" | median)|$note|${bs[*]:-}|${qs[*]:-}")
}

bq=("${bench[@]}" -f qcow2 -t writeback -i threads)

log "run.sh: images in $work; $reps run(s) per side"
workload seq-write-4k $((n_seqw * 4096)) fresh:qcow2:1G \
    "${qb[@]}" -w -c $n_seqw -s 4k --pattern=$fill IMG -- \
    "${bq[@]}" -w -c $n_seqw -s 4k --fill $fill --read-back IMG
workload scatter-write-4k $((n_scat * 4096)) fresh:qcow2:1G \
    "${qb[@]}" -w -c $n_scat -s 4k -S $weyl --pattern=$fill IMG -- \
    "${bq[@]}" -w -c $n_scat -s 4k -S $weyl --fill $fill --read-back IMG
workload rand-write-4k $((n_randw * 4096)) fresh:qcow2:1G \
    "${bench[@]}" --qemu-io -f qcow2 -t writeback -w --pattern rand -c $n_randw -s 4k --fill $fill IMG -- \
    "${bq[@]}" -w --pattern rand --batch -c $n_randw -s 4k --fill $fill --read-back IMG
workload seq-read-64k $((n_r64 * 65536)) prepare_allocated:"$work/alloc.qcow2" \
    "${qb[@]}" -c $n_r64 -s 64k IMG -- \
    "${bq[@]}" -c $n_r64 -s 64k --verify 0x5a IMG
workload seq-read-4k $((n_r4 * 4096)) prepare_allocated:"$work/alloc.qcow2" \
    "${qb[@]}" -c $n_r4 -s 4k IMG -- \
    "${bq[@]}" -c $n_r4 -s 4k --verify 0x5a IMG
workload scatter-read-4k $((n_scat * 4096)) prepare_allocated:"$work/alloc.qcow2" \
    "${qb[@]}" -c $n_scat -s 4k -S $weyl IMG -- \
    "${bq[@]}" -c $n_scat -s 4k -S $weyl --verify 0x5a IMG
workload chain-read-64k $((n_c64 * 65536)) prepare_chain:"$work/top.qcow2" \
    "${qb[@]}" -c $n_c64 -s 64k IMG -- \
    "${bq[@]}" -c $n_c64 -s 64k --verify 0x11,0x22,0x33:64k IMG
workload chain-read-4k $((n_c4 * 4096)) prepare_chain:"$work/top.qcow2" \
    "${qb[@]}" -c $n_c4 -s 4k IMG -- \
    "${bq[@]}" -c $n_c4 -s 4k --verify 0x11,0x22,0x33:64k IMG
# Baselines without a format layer: blockd's generic path and file driver against QEMU's.
workload raw-write-4k $((n_seqw * 4096)) fresh:raw:1G \
    qemu-img bench -f raw -t writeback -i threads -w -c $n_seqw -s 4k --pattern=$fill IMG -- \
    "${bench[@]}" -f raw -t writeback -w -c $n_seqw -s 4k --fill $fill IMG
workload raw-read-4k $((n_r4 * 4096)) fresh:raw:1G \
    qemu-img bench -f raw -t writeback -i threads -c $n_r4 -s 4k IMG -- \
    "${bench[@]}" -f raw -t writeback -c $n_r4 -s 4k IMG
# Memory: a fresh 1 TiB image, default caches, N random 4 KiB writes then the same offsets read
# back; peak RSS of the whole process (blockd: VmHWM of the bench process, .NET runtime included).
q_hwm="" b_hwm="" b_base=""
workload rss-1t $((n_rss * 4096)) fresh:qcow2:1T \
    "${bench[@]}" --qemu-io -f qcow2 -t writeback -w --pattern rand -c $n_rss -s 4k --fill $fill --read-back IMG -- \
    "${bq[@]}" -w --pattern rand --batch -c $n_rss -s 4k --fill $fill --read-back --warmup 0 IMG

# ---- report ---------------------------------------------------------------------------------
echo
echo "qcow2 driver: blockd (in process, .NET $(dotnet --version 2>/dev/null)) vs $(qemu-img --version | head -n 1)"
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $reps run(s) per side, medians; -t writeback (buffered) on both sides"
echo
printf '%-17s %9s %9s %7s %11s %10s %8s %11s\n' workload "blockd s" "qemu s" ratio "blockd MB/s" "qemu MB/s" "cpu b/q" "spread b/q"
for row in "${rows[@]}"; do
    IFS='|' read -r name b q bytes bcpu qcpu note bruns qruns <<<"$row"
    awk -v n="$name" -v b="$b" -v q="$q" -v by="$bytes" -v bc="$bcpu" -v qc="$qcpu" -v note="$note" -v br="$bruns" -v qr="$qruns" '
    function spread(list,   k, a, lo, hi) {   # (slowest - fastest) / fastest, in percent
        if (split(list, a, " ") < 2) return "-"
        lo = hi = a[1]; for (k in a) { if (a[k] < lo) lo = a[k]; if (a[k] > hi) hi = a[k] }
        return sprintf("%.0f%%", (hi - lo) / lo * 100)
    }
    BEGIN {
        ratio = (b != "" && q != "" && q > 0) ? sprintf("%.2f", b / q) : "-"
        bm = (b != "" && b > 0) ? sprintf("%.1f", by / b / 1e6) : "-"
        qm = (q != "" && q > 0) ? sprintf("%.1f", by / q / 1e6) : "-"
        cr = (bc != "" && qc != "" && qc > 0) ? sprintf("%.2f", bc / qc) : "-"
        sp = spread(br) "/" spread(qr)
        printf "%-17s %9s %9s %7s %11s %10s %8s %11s %s\n", n, (b == "" ? "-" : sprintf("%.3f", b)), (q == "" ? "-" : sprintf("%.3f", q)), ratio, bm, qm, cr, sp, note
    }'
done
if [[ -n "$b_hwm$q_hwm" ]]; then
    awk -v b="$b_hwm" -v q="$q_hwm" -v base="$b_base" -v n="$n_rss" 'BEGIN {
        printf "\npeak RSS, 1 TiB image, %d random 4 KiB writes + read-back: blockd %s MiB (of which %s MiB before the image was opened), qemu-io %s MiB",
            n, (b == "" ? "?" : sprintf("%.1f", b / 1024)), (base == "" ? "?" : sprintf("%.1f", base / 1024)), (q == "" ? "?" : sprintf("%.1f", q / 1024))
        if (b != "" && q != "" && q > 0) printf ", ratio %.2f", b / q
        printf "\n"
    }'
fi
echo
echo "ratio = blockd time / qemu time (below 1.0: blockd faster). MB = 10^6 bytes. cpu b/q: user+sys of blockd's timed pass over"
echo "qemu's whole process. seq/scatter/raw rows: qemu-img bench, same options on both sides (scatter: -S $weyl);"
echo "rand/rss rows: qemu-io with the same offsets, batches of 64 + aio_flush on both sides (qemu-io's parsing included)."
echo "spread: (slowest - fastest) / fastest over the runs of each side; a ratio closer to 1.0 than that is noise."

if [[ -n "$json" ]]; then
    { echo "{\"date\":\"$(date -Iseconds)\",\"nproc\":$(nproc),\"reps\":$reps,\"quick\":$quick,\"runs\":["
      (IFS=,; echo "${json_runs[*]:-}")
      echo "]}"; } >"$json"
    log "run.sh: figures written to $json"
fi
exit $failed
