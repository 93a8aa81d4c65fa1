# syntax=docker/dockerfile:1
# blockd container image. Build from the repository root:   docker build -t blockd .
# Run:  docker run -d -v blockd-images:/var/lib/blockd -v /run/blockd:/run/blockd blockd
# See deploy/README.md.

# ---- build: .NET 10 SDK -------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
# Framework-dependent publish for the runtime image below. The project defaults to Native AOT,
# whose native toolchain (clang, zlib1g-dev) the SDK image does not have, hence PublishAot=false.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/BlockDaemon -c Release -p:PublishAot=false -o /out

# ---- runtime: .NET 10 runtime (Microsoft's .NET 10 images are Ubuntu 24.04 based) -------------
FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /out/ ./

# Image files and the QMP socket; owned by the image's non-root user "app" ($APP_UID, 1654) so a
# fresh named volume inherits that owner.
RUN mkdir -p /var/lib/blockd /run/blockd \
    && chown "$APP_UID:$APP_UID" /var/lib/blockd /run/blockd \
    && chmod 0750 /var/lib/blockd /run/blockd
VOLUME ["/var/lib/blockd", "/run/blockd"]
USER $APP_UID

# qsd-style command line: QMP on /run/blockd/qmp.sock. Arguments given to `docker run` replace CMD.
ENTRYPOINT ["/app/blockd"]
CMD ["--chardev", "socket,id=qmp0,path=/run/blockd/qmp.sock,server=on,wait=off", "--monitor", "chardev=qmp0"]
