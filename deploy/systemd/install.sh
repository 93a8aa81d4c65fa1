#!/usr/bin/env bash
# Installs blockd as a systemd service (run as root from the repository root):
#
#   deploy/systemd/install.sh [BLOCKD-BINARY]
#
# BLOCKD-BINARY defaults to the Native AOT publish output (publishing it first if missing):
#   dotnet publish src/BlockDaemon -c Release -r linux-x64 -o artifacts/aot
# Installs /usr/local/bin/blockd, /etc/systemd/system/blockd.service and, if absent,
# /etc/blockd/blockd.json (an example; not used until a drop-in passes --config). Enable with
#   systemctl enable --now blockd
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="${1:-$repo/artifacts/aot/blockd}"
if [[ $# -eq 0 && ! -x "$binary" ]]; then
    dotnet publish "$repo/src/BlockDaemon" -c Release -r linux-x64 -o "$repo/artifacts/aot"
fi
[[ -x "$binary" ]] || { echo "install.sh: $binary is not an executable" >&2; exit 2; }

install -m 0755 "$binary" /usr/local/bin/blockd
install -m 0644 "$repo/deploy/systemd/blockd.service" /etc/systemd/system/blockd.service
install -d -m 0755 /etc/blockd
[[ -e /etc/blockd/blockd.json ]] || install -m 0644 "$repo/deploy/blockd.json" /etc/blockd/blockd.json
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
fi
echo "installed; start with: systemctl enable --now blockd" >&2
