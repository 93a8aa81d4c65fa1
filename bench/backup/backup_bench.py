#!/usr/bin/env python3
"""Backup costs of one daemon over QMP and NBD; prints one JSON line.

Usage: backup_bench.py QMP-SOCK NBD-SOCK EXPORT RATE WINDOW

The daemon has the disk as node "disk" (exported writable as EXPORT) and four empty qcow2
targets t-full-idle, t-full-writer, t-inc-idle, t-inc-writer of the disk's size. In order:

  full_idle     blockdev-backup sync=full to t-full-idle, no guest: seconds to BLOCK_JOB_COMPLETED
  lat_none      the guest alone for WINDOW s, no bitmap, no job: write latency p50/p99 (ms)
  lat_bm1       the same with 1 recording persistent bitmap
  lat_bm16      the same with 16 (then all 16 are removed)
  lat_bm16t     the same with 16 bitmaps that are not persistent
  full_writer   sync=full to t-full-writer while the guest writes; lat_backup is its latency
  inc_idle      a bitmap, 10% of the disk rewritten (1 MiB at every 10th MiB, untimed), then
                sync=incremental to t-inc-idle, no guest
  inc_writer    10% rewritten again, sync=incremental to t-inc-writer while the guest writes

Every timed phase starts after a sync(2), so the page cache holds nothing dirty from an
earlier phase. The guest is one NBD connection doing 4 KiB writes at random 4 KiB-aligned offsets, one in
flight, started every 1/RATE s (a late write starts at once). A job error, a QMP error or a
failed guest write exits 1: a failure is never reported as a time.
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
MIB = 1 << 20


def fail(message):
    sys.exit("backup_bench: " + message)


class Guest:
    """The guest writer, on its own connection and thread, started and stopped around a phase."""

    def __init__(self, nbd_path, export, rate, seed):
        self.client = NbdClient(nbd_path, export, "backup_bench")
        self.rate = rate
        self.rng = random.Random(seed)
        self.payload = os.urandom(WRITE)
        self.stop_flag = threading.Event()
        self.latencies = []
        self.failed = False
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        period = 1.0 / self.rate
        blocks = self.client.size // WRITE
        due = time.monotonic()
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            start = time.monotonic()
            if self.client.write(self.rng.randrange(blocks) * WRITE, self.payload):
                self.failed = True
                return
            self.latencies.append(time.monotonic() - start)
            due += period
            if due < start:
                due = start

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.client.close()
        if self.failed:
            fail("a guest write failed")
        return self.latencies


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(TIMEOUT)
        self.s.connect(path)
        self.reader = self.s.makefile("rb")
        self.events = []
        self.recv()  # greeting
        self.execute("qmp_capabilities")

    def recv(self):
        line = self.reader.readline()
        if not line:
            fail("the daemon closed the connection")
        return json.loads(line)

    def execute(self, command, **arguments):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.s.sendall(json.dumps(message).encode() + b"\n")
        while True:
            msg = self.recv()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                fail(f"{command}: {msg['error']['desc']}")
            self.events.append(msg)

    def wait_completed(self, job):
        while True:
            while self.events:
                msg = self.events.pop(0)
                if msg.get("event") in ("BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED") and msg["data"]["device"] == job:
                    if msg["event"] == "BLOCK_JOB_CANCELLED" or msg["data"].get("error"):
                        fail(f"job {job} failed: {json.dumps(msg['data'])}")
                    return
            self.events.append(self.recv())


def main():
    qmp_path, nbd_path, export = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, window = float(sys.argv[4]), float(sys.argv[5])
    qmp = Qmp(qmp_path)
    result = {}

    # Each phase starts with nothing dirty in the page cache: what one phase wrote is not
    # written back during the next one.
    def backup(job, target, rate_during, **extra):
        os.sync()
        guest = Guest(nbd_path, export, rate_during, 2) if rate_during > 0 else None
        t0 = time.monotonic()
        qmp.execute("blockdev-backup", **{"job-id": job, "device": "disk", "target": target}, **extra)
        qmp.wait_completed(job)
        result[job] = round(time.monotonic() - t0, 3)
        return guest.stop() if guest else None

    def latency(name):
        os.sync()
        guest = Guest(nbd_path, export, rate, 1)
        time.sleep(window)
        record(name, guest.stop())

    def record(name, latencies):
        result[name + "_p50_ms"] = round(percentile(latencies, 50) * 1000, 3)
        result[name + "_p99_ms"] = round(percentile(latencies, 99) * 1000, 3)
        result[name + "_writes"] = len(latencies)

    def dirty_tenth(pattern):
        client = NbdClient(nbd_path, export, "backup_bench")
        data = bytes([pattern]) * MIB
        for mib in range(5, client.size // MIB, 10):
            if client.write(mib * MIB, data):
                fail("a write of the 10% dirtying failed")
        client.close()

    backup("full_idle", "t-full-idle", 0, sync="full")
    latency("lat_none")
    qmp.execute("block-dirty-bitmap-add", node="disk", name="bm0", persistent=True)
    latency("lat_bm1")
    for i in range(1, 16):
        qmp.execute("block-dirty-bitmap-add", node="disk", name=f"bm{i}", persistent=True)
    latency("lat_bm16")
    for i in range(16):
        qmp.execute("block-dirty-bitmap-remove", node="disk", name=f"bm{i}")
    # The same 16 not persistent: the marking alone, without what keeping bits across a crash costs.
    for i in range(16):
        qmp.execute("block-dirty-bitmap-add", node="disk", name=f"tm{i}")
    latency("lat_bm16t")
    for i in range(16):
        qmp.execute("block-dirty-bitmap-remove", node="disk", name=f"tm{i}")
    record("lat_backup", backup("full_writer", "t-full-writer", rate, sync="full"))
    qmp.execute("block-dirty-bitmap-add", node="disk", name="inc")
    dirty_tenth(0x55)
    backup("inc_idle", "t-inc-idle", 0, sync="incremental", bitmap="inc")
    dirty_tenth(0x66)
    backup("inc_writer", "t-inc-writer", rate, sync="incremental", bitmap="inc")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
