# syntax=docker/dockerfile:1
# blockd container image: the Native AOT binary on a slim Debian 12, running as a non-root user.
#
# From a machine that reaches the registries (SDK build stage, see "sdk" below):
#   docker build -t blockd .
# Without a registry (what deploy/container/verify.sh does): a Debian 12 base made with
# debootstrap, and the AOT binary published on the host (same glibc as the base):
#   deploy/container/make-base-image.sh                          # -> localhost/debian:12
#   dotnet publish src/BlockDaemon -c Release -r linux-x64 -o artifacts/aot
#   podman build --format docker --build-arg BASE=localhost/debian:12 \
#                --build-arg BLOCKD_FROM=prebuilt -t localhost/blockd .
# Run:
#   docker run -d --network none -v blockd-images:/var/lib/blockd -v /run/blockd:/run/blockd blockd
# See deploy/container/README.md.

ARG BASE=debian:12-slim
ARG SDK=mcr.microsoft.com/dotnet/sdk:10.0
# Where the binary comes from: "sdk" (built in the SDK stage) or "prebuilt" (artifacts/aot/blockd).
ARG BLOCKD_FROM=sdk

# ---- binary-sdk: Native AOT publish inside the .NET SDK image ---------------------------------
FROM ${SDK} AS binary-sdk
# Native AOT links with clang; zlib is linked statically.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The binary needs glibc 2.34 or newer (built on Debian 12 it references symbol versions up to
# GLIBC_2.34: the runtime's static libraries are compiled against an old glibc), so an SDK image
# with a newer glibc than the runtime base is fine as long as the base has 2.34.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/BlockDaemon -c Release -r linux-x64 -o /out \
    && rm -f /out/*.dbg /out/*.pdb

# ---- binary-prebuilt: a binary published on the build host ------------------------------------
FROM ${BASE} AS binary-prebuilt
# Marks this stage's (dangling) image so build scripts can remove it afterwards.
LABEL io.blockd.build-stage=binary
COPY artifacts/aot/blockd /out/blockd

FROM binary-${BLOCKD_FROM} AS binary

# ---- runtime -----------------------------------------------------------------------------------
FROM ${BASE} AS runtime
# A fixed uid/gid so host directories (bind mounts, hostPath) can be given to it: 1654.
RUN groupadd --system --gid 1654 blockd \
    && useradd --system --uid 1654 --gid blockd --home-dir /var/lib/blockd --no-create-home \
       --shell /usr/sbin/nologin blockd \
    && install -d -o blockd -g blockd -m 0750 /var/lib/blockd /run/blockd
COPY --from=binary --chmod=0755 /out/blockd /usr/local/bin/blockd

# Images and sockets. A fresh named volume inherits the owner above; a bind-mounted host
# directory must be writable by uid 1654.
VOLUME ["/var/lib/blockd", "/run/blockd"]
USER 1654:1654
WORKDIR /var/lib/blockd

# Healthy = the monitor negotiates QMP and answers query-version (not just: the socket exists).
# Point BLOCKD_HEALTH_SOCKET elsewhere when the command line serves QMP on another path.
# (podman keeps HEALTHCHECK only with `podman build --format docker`.)
ENV BLOCKD_HEALTH_SOCKET=/run/blockd/qmp.sock
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
    CMD /usr/local/bin/blockd --health-check "$BLOCKD_HEALTH_SOCKET" 5

# SIGTERM (docker stop) makes blockd close its images cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/blockd"]
# qsd's command line: QMP on /run/blockd/qmp.sock. Arguments to `docker run` replace these, so
# repeat the --chardev/--monitor pair when adding --blockdev/--export options (or use --config).
CMD ["--chardev", "socket,id=qmp0,path=/run/blockd/qmp.sock,server=on,wait=off", "--monitor", "chardev=qmp0"]
