#!/usr/bin/env python3
"""Times one mirror (sync=full) to READY and to completion over QMP, optionally with a guest
writing through an NBD export all along; prints one JSON line.

Usage: mirror_bench.py QMP-SOCK NBD-SOCK EXPORT RATE [MODE]
RATE is guest writes per second (0: no guest). MODE is the mirror's copy-mode, "background"
(default) or "write-blocking", or "nojob:SECONDS": no job at all, the guest alone for SECONDS
(the latency the job modes are compared with; ready and total are then 0). The guest is one NBD connection doing 4 KiB
writes at random 4 KiB-aligned offsets, one in flight, started on a fixed schedule (every
1/RATE s; a late write starts at once). Its latency is measured per write while the job runs.
The clock runs from sending blockdev-mirror to BLOCK_JOB_READY ("ready"), then
the guest stops (its last write acknowledged), block-job-complete is sent and the clock runs on
to BLOCK_JOB_COMPLETED ("total"); the guest's latency covers the copy up to READY. A job that
ends with an error, or a failed guest write, exits 1: a failure is never reported as a time.
"""
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import NbdClient, percentile  # noqa: E402

TIMEOUT = 900
WRITE = 4096


def guest(client, rate, stop, latencies, errors):
    rng = random.Random(1)
    period = 1.0 / rate
    blocks = client.size // WRITE
    payload = os.urandom(WRITE)
    due = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        start = time.monotonic()
        if client.write(rng.randrange(blocks) * WRITE, payload):
            errors.append(1)
            return
        latencies.append(time.monotonic() - start)
        due += period
        if due < start:
            due = start


def main():
    qmp_path, nbd_path, export, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "background"
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(TIMEOUT)
    s.connect(qmp_path)
    reader = s.makefile("rb")

    def send(obj):
        s.sendall(json.dumps(obj).encode() + b"\n")

    def recv():
        line = reader.readline()
        if not line:
            sys.exit("mirror_bench: the daemon closed the connection")
        return json.loads(line)

    events = []

    def reply():
        while True:
            msg = recv()
            if "return" in msg:
                return msg
            if "error" in msg:
                sys.exit("mirror_bench: " + msg["error"]["desc"])
            events.append(msg)

    def wait_event(name):
        while True:
            while events:
                msg = events.pop(0)
                if msg.get("event") == name:
                    return msg
                if msg.get("event") == "BLOCK_JOB_COMPLETED" and name != "BLOCK_JOB_COMPLETED":
                    sys.exit("mirror_bench: the job ended early: " + json.dumps(msg["data"]))
            events.append(recv())

    recv()  # greeting
    send({"execute": "qmp_capabilities"})
    reply()

    stop = threading.Event()
    latencies, errors = [], []
    writer = None
    if rate > 0:
        client = NbdClient(nbd_path, export, "mirror_bench")
        writer = threading.Thread(target=guest, args=(client, rate, stop, latencies, errors))
        writer.start()

    if mode.startswith("nojob:"):
        time.sleep(float(mode.split(":", 1)[1]))
        stop.set()
        if writer:
            writer.join()
            client.close()
        if errors:
            sys.exit("mirror_bench: a guest write failed")
        print(json.dumps({
            "ready": 0, "total": 0, "writes": len(latencies),
            "p50_ms": round(percentile(latencies, 50) * 1000, 3),
            "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        }))
        return

    t0 = time.monotonic()
    send({"execute": "blockdev-mirror", "arguments": {"job-id": "m", "device": "top", "target": "target", "sync": "full", "copy-mode": mode}})
    reply()
    wait_event("BLOCK_JOB_READY")
    t_ready = time.monotonic()
    # The guest stops before the pivot, so the source and the copy can be compared afterwards.
    stop.set()
    if writer:
        writer.join()
        client.close()
    send({"execute": "block-job-complete", "arguments": {"device": "m"}})
    reply()
    done = wait_event("BLOCK_JOB_COMPLETED")
    t_done = time.monotonic()
    if done["data"].get("error"):
        sys.exit("mirror_bench: the job failed: " + done["data"]["error"])
    if errors:
        sys.exit("mirror_bench: a guest write failed")
    print(json.dumps({
        "ready": round(t_ready - t0, 3),
        "total": round(t_done - t0, 3),
        "writes": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
    }))


main()
