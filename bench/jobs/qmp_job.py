#!/usr/bin/env python3
"""Times one block job over QMP: sends the job command, waits for its end, prints seconds.

Usage: qmp_job.py SOCK ACTIVE JSON-COMMAND [FILE...]
The clock runs from sending the command to BLOCK_JOB_COMPLETED; for an active commit (ACTIVE=1)
job-complete is sent on BLOCK_JOB_READY and counted in. A job that ends with an error, or no
event within the timeout, exits 1 so the benchmark never reports a failed job as a time.

With FILEs, the client then fdatasyncs each of them and prints a second time, up to the end of
those flushes: when the job's result is on the disk. A daemon that flushed before completing has
nothing left there; one that left the copied data in the page cache pays for it in this figure.
"""
import json
import os
import socket
import sys
import time

TIMEOUT = 600


def main():
    sock_path, active, command = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
    files = sys.argv[4:]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(TIMEOUT)
    s.connect(sock_path)
    reader = s.makefile("rb")

    def send(obj):
        s.sendall(json.dumps(obj).encode() + b"\n")

    def recv():
        line = reader.readline()
        if not line:
            sys.exit("qmp_job: the daemon closed the connection")
        return json.loads(line)

    def reply():
        while True:
            msg = recv()
            if "return" in msg:
                return msg
            if "error" in msg:
                sys.exit("qmp_job: " + msg["error"]["desc"])
            handle(msg)

    done = {}

    def handle(msg):
        event = msg.get("event")
        if event == "BLOCK_JOB_READY" and active:
            send({"execute": "job-complete", "arguments": {"id": msg["data"]["device"]}})
        elif event == "BLOCK_JOB_COMPLETED":
            done["t"] = time.monotonic()
            done["error"] = msg["data"].get("error")

    recv()  # greeting
    send({"execute": "qmp_capabilities"})
    reply()
    t0 = time.monotonic()
    send(command)
    reply()
    while "t" not in done:
        msg = recv()
        if "error" in msg:
            sys.exit("qmp_job: " + msg["error"]["desc"])
        handle(msg)
    if done["error"]:
        sys.exit("qmp_job: the job failed: " + done["error"])
    if not files:
        print(f"{done['t'] - t0:.3f}")
        return
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
    print(f"{done['t'] - t0:.3f} {time.monotonic() - t0:.3f}")


main()
