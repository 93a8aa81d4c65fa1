#!/bin/bash
# Usage: make-test-pki.sh DIR — a throw-away CA with a server certificate (localhost, 127.0.0.1)
# and a client certificate, laid out as QEMU's tls-creds-x509 expects: DIR/server holds
# ca-cert.pem, server-cert.pem, server-key.pem; DIR/client holds ca-cert.pem, client-cert.pem,
# client-key.pem. Prints nothing unless it fails.
set -e
dir=$1
mkdir -p "$dir/server" "$dir/client"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca-cert.pem -days 30 -subj "/CN=blockd test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
issue() {
    openssl req -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -out "$1-cert.pem" -days 30 -extfile "$1.ext" 2>/dev/null
}
issue server localhost $'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1'
issue client client $'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
cp ca-cert.pem server-cert.pem server-key.pem server/
cp ca-cert.pem client-cert.pem client-key.pem client/
