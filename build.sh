#!/usr/bin/env bash
# One entry point for building and testing BlockDaemon.
#   ./build.sh            build the solution
#   ./build.sh test       install the interop tools when missing, build, run every test
#   ./build.sh run ARGS   run the daemon (no ARGS: QMP socket at the default path)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

tools=(qemu-img:qemu-utils qemu-io:qemu-utils qemu-storage-daemon:qemu-system-common nbdinfo:libnbd-bin nbdkit:nbdkit socat:socat jq:jq)

install_tools() {
    local missing=()
    for entry in "${tools[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    echo "build.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
    dotnet build BlockDaemon.sln --nologo -v quiet -clp:ErrorsOnly
}

run_tests() {
    install_tools
    build
    local log
    log="$(mktemp)"
    local status=0
    dotnet test --solution BlockDaemon.sln --no-build 2>&1 | tee "$log" || status=$?
    # One plain closing line for every test project together.
    awk '/^[[:space:]]+succeeded:/ {p += $2} /^[[:space:]]+failed:/ {f += $2} /^[[:space:]]+skipped:/ {s += $2}
         END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$log"
    rm -f "$log"
    return "$status"
}

case "${1:-build}" in
    build) build ;;
    test) run_tests ;;
    run) shift; exec dotnet run --project src/BlockDaemon -- "$@" ;;
    *) echo "usage: ./build.sh [build|test|run ARGS...]" >&2; exit 2 ;;
esac
