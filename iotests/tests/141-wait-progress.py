#!/usr/bin/env python3
"""Waits until a block job has made some progress and is idle (busy=false: asleep for its rate
limit), through a second QMP monitor, so that a test can act on a rate-limited job between
chunks (the state in which both daemons handle a pause or cancel at once).
Usage: 141-wait-progress.py SOCKET JOB-ID MIN-PROGRESS. Prints nothing on success; gives up
after 20 s with a message and exit status 1."""
import json
import socket
import sys
import time

path, job, minimum = sys.argv[1], sys.argv[2], int(sys.argv[3])


def messages(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError("monitor closed")
        yield json.loads(line)


s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("r")
stream = messages(f)
next(stream)


def command(name):
    s.sendall(json.dumps({"execute": name}).encode() + b"\n")
    for message in stream:
        if "return" in message or "error" in message:
            return message


command("qmp_capabilities")
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    for info in command("query-block-jobs").get("return", []):
        if info["device"] == job and info["offset"] >= minimum and not info["busy"]:
            sys.exit(0)
    time.sleep(0.05)
print(f"job {job} did not reach progress {minimum}")
sys.exit(1)
