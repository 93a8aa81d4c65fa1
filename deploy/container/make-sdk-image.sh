#!/usr/bin/env bash
# Makes a local stand-in for the .NET SDK image from this machine's .NET installation, on the
# Debian 12 base of make-base-image.sh, so the Dockerfile's SDK stage can run without a registry:
#
#   deploy/container/make-sdk-image.sh [IMAGE]          (default IMAGE: localhost/dotnet-sdk:10.0)
#   podman build --isolation chroot --format docker --build-arg BASE=localhost/debian:12 \
#       --build-arg SDK=localhost/dotnet-sdk:10.0 -t localhost/blockd .
#
# The SDK stage then installs clang with apt and restores NuGet packages, so the build needs
# Debian's mirror and NuGet (not a container registry). Needs root, podman; uses the dotnet on
# PATH (its installation directory, about 650 MB, is copied into the image).
set -euo pipefail
image="${1:-localhost/dotnet-sdk:10.0}"
base="${BASE_IMAGE:-localhost/debian:12}"
if [[ "${FORCE:-0}" != 1 ]] && podman image exists "$image"; then
    echo "make-sdk-image: $image already exists (FORCE=1 rebuilds it)" >&2
    exit 0
fi
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
[[ -x "$dotnet_root/dotnet" ]] || { echo "make-sdk-image: no dotnet on PATH" >&2; exit 2; }
podman image exists "$base" || "$(dirname "${BASH_SOURCE[0]}")/make-base-image.sh" "$base"

context="$(mktemp -d "${TMPDIR:-/var/tmp}/blockd-sdk.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cp -a "$dotnet_root" "$context/dotnet"
# The image trusts what this host trusts: local CA certificates (e.g. of a TLS-inspecting proxy
# in front of NuGet) and the NuGet certificate revocation mode, if set.
mkdir -p "$context/ca"
cp /usr/local/share/ca-certificates/*.crt "$context/ca/" 2>/dev/null || true
revocation="${NUGET_CERT_REVOCATION_MODE:-online}"
cat >"$context/Containerfile" <<CONTAINERFILE
FROM $base
# What the SDK needs at run time on Debian 12 (ICU: the SDK itself is not invariant).
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        ca-certificates libicu72 libssl3 \\
    && rm -rf /var/lib/apt/lists/*
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 NUGET_CERT_REVOCATION_MODE=$revocation
CONTAINERFILE
podman build --isolation chroot --format docker -t "$image" "$context" >&2
echo "make-sdk-image: built $image from $dotnet_root" >&2
