#!/usr/bin/env python3
"""The latency of single guest writes through one daemon's NBD export; prints one JSON line.

Usage: write_latency.py NBD-SOCK EXPORT RATE SECONDS [WARMUP]

One NBD connection writes 4 KiB at random 4 KiB-aligned offsets, one in flight, one started
every 1/RATE s (a late write starts at once), for SECONDS after WARMUP seconds that are not
counted. Prints p50/p90/p99 in ms and the count. A failed write exits 1.
"""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import NbdClient, percentile  # noqa: E402

WRITE = 4096


def main():
    path, export, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    warmup = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
    client = NbdClient(path, export, "write_latency")
    rng = random.Random(1)
    payload = os.urandom(WRITE)
    blocks = client.size // WRITE
    period = 1.0 / rate
    latencies = []
    begin = time.monotonic()
    due = begin
    while True:
        now = time.monotonic()
        if now - begin >= warmup + seconds:
            break
        if now < due:
            time.sleep(due - now)
        start = time.monotonic()
        if client.write(rng.randrange(blocks) * WRITE, payload):
            sys.exit("write_latency: a write failed")
        if start - begin >= warmup:
            latencies.append(time.monotonic() - start)
        due += period
        if due < start:
            due = start
    client.close()
    ms = [x * 1000 for x in latencies]
    print(json.dumps({"p50_ms": round(percentile(ms, 50), 4), "p90_ms": round(percentile(ms, 90), 4),
                      "p99_ms": round(percentile(ms, 99), 4), "writes": len(ms)}))


if __name__ == "__main__":
    main()
