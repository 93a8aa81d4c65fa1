"""Pieces the python benchmarks share: a minimal NBD writer and a percentile."""

import socket
import struct
import sys


class NbdClient:
    """Just enough of the NBD protocol (fixed newstyle, NBD_OPT_GO, simple replies) to write."""

    def __init__(self, path, export, who):
        self.who = who
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect(path)
        magic, opt_magic, _flags = struct.unpack(">QQH", self.recv(18))
        if magic != 0x4E42444D41474943 or opt_magic != 0x49484156454F5054:
            sys.exit(self.who + ": not a newstyle NBD server")
        self.s.sendall(struct.pack(">I", 1 | 2))  # FIXED_NEWSTYLE | NO_ZEROES
        name = export.encode()
        data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
        self.s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(data)) + data)  # NBD_OPT_GO
        self.size = None
        while True:
            _magic, _opt, rtype, length = struct.unpack(">QIII", self.recv(20))
            payload = self.recv(length)
            if rtype == 1:  # NBD_REP_ACK
                break
            if rtype & 0x80000000:
                sys.exit(f"{self.who}: NBD_OPT_GO refused ({rtype:#x}): {payload!r}")
            if rtype == 3 and struct.unpack(">H", payload[:2])[0] == 0:  # NBD_INFO_EXPORT
                self.size = struct.unpack(">Q", payload[2:10])[0]
        self.handle = 0

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                sys.exit(self.who + ": the NBD server hung up")
            buf += chunk
        return buf

    def write(self, offset, data):
        self.handle += 1
        self.s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, self.handle, offset, len(data)) + data)
        magic, error, handle = struct.unpack(">IIQ", self.recv(16))
        if magic != 0x67446698 or handle != self.handle:
            sys.exit(self.who + ": bad NBD reply")
        return error

    def close(self):
        self.s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 0, 0, 0))  # NBD_CMD_DISC
        self.s.close()


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
