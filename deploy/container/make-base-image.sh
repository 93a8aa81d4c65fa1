#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) base image from Debian's packages, for machines that reach a
# Debian mirror but no container registry, and imports it into podman as localhost/debian:12.
#
#   deploy/container/make-base-image.sh [IMAGE]        (default IMAGE: localhost/debian:12)
#
# Needs root, debootstrap and podman (apt-get install debootstrap podman). The mirror is the one
# this machine's apt uses (first URIs:/deb line of /etc/apt), or $DEBIAN_MIRROR.
# Takes a few minutes; does nothing when the image already exists (FORCE=1 rebuilds).
set -euo pipefail
image="${1:-localhost/debian:12}"

if [[ "${FORCE:-0}" != 1 ]] && podman image exists "$image"; then
    echo "make-base-image: $image already exists (FORCE=1 rebuilds it)" >&2
    exit 0
fi
for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { echo "make-base-image: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$mirror" ]]; then
    mirror="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
[[ -n "$mirror" ]] || { echo "make-base-image: no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2; exit 2; }

rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/blockd-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
echo "make-base-image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
# Smaller image: no package lists, no documentation.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/var/cache/apt/*.bin
tar --numeric-owner -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image" >&2
echo "make-base-image: imported $image" >&2
