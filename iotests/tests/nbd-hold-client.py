#!/usr/bin/env python3
"""An NBD client that opens an export (NBD_OPT_GO) and holds the connection, so tests can see
what a daemon does to a connected client. Usage: nbd-hold-client.py SOCKET EXPORT LOG.
It writes "connected" to LOG once the export is open, then "disconnected by server" when the
server hangs up; it gives up after 30 s so it never outlives its test for long."""
import socket
import struct
import sys
import time

path, name, log = sys.argv[1], sys.argv[2].encode(), sys.argv[3]


def note(text):
    with open(log, "a") as f:
        f.write(text + "\n")


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
magic, opt_magic, _flags = struct.unpack(">QQH", read_exact(s, 18))
assert magic == 0x4E42444D41474943 and opt_magic == 0x49484156454F5054
s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
payload = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", opt_magic, 7, len(payload)) + payload)  # NBD_OPT_GO
while True:
    _m, _opt, rtype, length = struct.unpack(">QIII", read_exact(s, 20))
    read_exact(s, length)
    if rtype == 1:  # NBD_REP_ACK
        break
    if rtype & 0x80000000:
        note("export refused")
        sys.exit(1)
note("connected")
s.settimeout(30)
try:
    if s.recv(1) == b"":
        note("disconnected by server")
except socket.timeout:
    note("timed out")
