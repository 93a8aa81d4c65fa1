#!/usr/bin/env bash
# Builds the runtime image of the Dockerfile with podman and checks it end to end, from outside
# the container: QMP through a bind-mounted socket, an NBD export read with nbdinfo/nbdcopy,
# the image's HEALTHCHECK, the non-root user, and a clean stop on SIGTERM.
#
#   deploy/container/verify.sh            (as root, from anywhere)
#   BLOCKD_FROM=sdk deploy/container/verify.sh
#                                         the binary from the Dockerfile's SDK stage instead, on a
#                                         local SDK image (make-sdk-image.sh; the build then needs
#                                         Debian's mirror and NuGet; several minutes)
#
# Needs podman, debootstrap (first run: builds localhost/debian:12 with make-base-image.sh),
# socat, nbdinfo/nbdcopy (libnbd-bin) and the .NET SDK with the Native AOT prerequisites (clang,
# zlib1g-dev). No registry is used: the binary is published on this host into artifacts/aot
# (BLOCKD_BINARY=PATH uses that binary instead) and copied in with BLOCKD_FROM=prebuilt.
# Prints "container verify: ok" and exits 0 when every check passed; 1 otherwise; 2 when a
# tool is missing. Everything it starts is removed on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="${BASE_IMAGE:-localhost/debian:12}"
tag="localhost/blockd:verify-$$"
name="blockd-verify-$$"
fail() { echo "container verify: FAIL: $*" >&2; exit 1; }
say() { echo "container verify: $*" >&2; }

for tool in podman socat nbdinfo nbdcopy; do
    command -v "$tool" >/dev/null || { echo "container verify: $tool is missing" >&2; exit 2; }
done
[[ "$(id -u)" == 0 ]] || { echo "container verify: run as root (rootful podman, chown of the bind mounts)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/var/tmp}/blockd-verify.XXXXXX")"
cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman rmi -f "$tag" >/dev/null 2>&1 || true
    # The binary-prebuilt stage's image, left dangling by the build (the Dockerfile labels it).
    podman images -q --filter dangling=true --filter label=io.blockd.build-stage=binary | xargs -r podman rmi -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$repo/deploy/container/make-base-image.sh" "$base"

from="${BLOCKD_FROM:-prebuilt}"
build_args=(--build-arg BASE="$base" --build-arg BLOCKD_FROM="$from")
# The binary: published on this host (Debian 12, the base's glibc) unless given.
if [[ "$from" == sdk ]]; then
    sdk="${SDK_IMAGE:-localhost/dotnet-sdk:10.0}"
    "$repo/deploy/container/make-sdk-image.sh" "$sdk"
    build_args+=(--build-arg SDK="$sdk")
elif [[ "$from" != prebuilt ]]; then
    echo "container verify: BLOCKD_FROM must be prebuilt or sdk, not '$from'" >&2
    exit 2
elif [[ -n "${BLOCKD_BINARY:-}" ]]; then
    if [[ "$(realpath "$BLOCKD_BINARY")" != "$(realpath -m "$repo/artifacts/aot/blockd")" ]]; then
        install -D -m 0755 "$BLOCKD_BINARY" "$repo/artifacts/aot/blockd"
    fi
else
    say "publishing the Native AOT binary into artifacts/aot"
    dotnet publish "$repo/src/BlockDaemon" -c Release -r linux-x64 -o "$repo/artifacts/aot" --nologo -v quiet >&2
fi

say "building $tag (binary from: $from, base $base)"
# chroot isolation: RUN steps need no OCI runtime (this also works inside a container).
# BLOCKD_FROM is always passed: buildah 1.28 ignores the ARG's default in `FROM binary-${...}`.
podman build --isolation chroot --format docker "${build_args[@]}" \
    -t "$tag" "$repo" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "podman build failed"; }

# Host side of the volumes, owned by the image's user (uid 1654).
sockets="$work/run" images="$work/images"
install -d -o 1654 -g 1654 -m 0750 "$sockets" "$images"
# A raw image with a known pattern: 1 MiB of 0x5a, then 1 MiB of zeroes.
{ head -c 1048576 /dev/zero | tr '\0' '\132'; head -c 1048576 /dev/zero; } >"$images/disk0.img"
chown 1654:1654 "$images/disk0.img"

# Some sandboxes refuse crun's cgroup setup or the default rlimits: PODMAN_RUN_OPTS overrides;
# by default plain `podman run` is tried first, then runc with lower rlimits.
run_opts=()
if [[ -n "${PODMAN_RUN_OPTS:-}" ]]; then
    read -r -a run_opts <<<"$PODMAN_RUN_OPTS"
elif ! podman run --rm --network none "$tag" --version >/dev/null 2>"$work/probe.log"; then
    run_opts=(--runtime runc --ulimit nofile=16384:16384 --ulimit nproc=4096:4096)
    say "plain podman run failed ($(tail -n 1 "$work/probe.log")); using ${run_opts[*]}"
    podman "${run_opts[@]:0:2}" run --rm --network none "${run_opts[@]:2}" "$tag" --version >/dev/null \
        || fail "the image does not run here"
fi
# --runtime is a global option of podman; the rest belong to `run`.
global_opts=() container_opts=()
for ((i = 0; i < ${#run_opts[@]}; i++)); do
    if [[ "${run_opts[i]}" == --runtime ]]; then
        global_opts+=(--runtime "${run_opts[i + 1]}"); i=$((i + 1))
    else
        container_opts+=("${run_opts[i]}")
    fi
done

say "starting $name"
podman "${global_opts[@]}" run -d --name "$name" --network none "${container_opts[@]}" \
    -v "$sockets:/run/blockd" -v "$images:/var/lib/blockd" "$tag" \
    --chardev socket,id=qmp0,path=/run/blockd/qmp.sock,server=on,wait=off --monitor chardev=qmp0 \
    --blockdev driver=file,node-name=disk0-file,filename=/var/lib/blockd/disk0.img \
    --blockdev driver=raw,node-name=disk0,file=disk0-file \
    --nbd-server addr.type=unix,addr.path=/run/blockd/nbd.sock \
    --export type=nbd,id=disk0,node-name=disk0,name=disk0 >/dev/null 2>"$work/run.log" \
    || { cat "$work/run.log" >&2; fail "podman run failed"; }

for _ in $(seq 100); do
    [[ -S "$sockets/qmp.sock" ]] && break
    sleep 0.1
done
[[ -S "$sockets/qmp.sock" ]] || { podman logs "$name" >&2; fail "no QMP socket in the bind mount after 10 s"; }

# 1. QMP from outside, through the bind-mounted socket.
reply="$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-version"}' '{"execute":"query-block-exports"}' \
    | timeout 10 socat -t 2 - "UNIX-CONNECT:$sockets/qmp.sock")"
grep -q '"package": "blockd ' <<<"$reply" || fail "query-version did not answer as blockd: $reply"
grep -q '"node-name": "disk0"' <<<"$reply" || fail "query-block-exports does not list disk0: $reply"
say "QMP ok: $(grep -o '"package": "[^"]*"' <<<"$reply" | head -n 1)"

# 2. The NBD export from outside: size, then every byte.
uri="nbd+unix:///disk0?socket=$sockets/nbd.sock"
size="$(timeout 30 nbdinfo --size "$uri")"
[[ "$size" == 2097152 ]] || fail "nbdinfo reports size $size, expected 2097152"
timeout 60 nbdcopy "$uri" "$work/copy.img"
cmp -s "$images/disk0.img" "$work/copy.img" || fail "the NBD export's data differs from the image"
say "NBD ok: $size bytes read back identical"

# 3. The image's HEALTHCHECK (blockd --health-check) and the user it runs as.
podman healthcheck run "$name" >/dev/null 2>&1 || fail "podman healthcheck run reported unhealthy"
[[ "$(stat -c %u "$sockets/qmp.sock")" == 1654 ]] || fail "the socket is not owned by uid 1654"
[[ "$(podman exec "$name" /usr/local/bin/blockd --health-check /run/blockd/qmp.sock)" == "QEMU 7.2.0 blockd"* ]] \
    || fail "--health-check inside the container"
say "health check ok, daemon runs as uid 1654"

# 4. docker/podman stop sends SIGTERM: blockd closes its images and exits 0.
podman stop -t 30 "$name" >/dev/null
status="$(podman inspect -f '{{.State.ExitCode}}' "$name")"
[[ "$status" == 0 ]] || { podman logs "$name" >&2; fail "exit status $status after SIGTERM"; }
[[ ! -e "$sockets/qmp.sock" ]] || fail "the QMP socket outlived the daemon"
say "stop ok (exit 0, sockets removed)"
echo "container verify: ok"
