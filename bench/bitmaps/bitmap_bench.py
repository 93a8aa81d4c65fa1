#!/usr/bin/env python3
"""Dirty-bitmap costs of blockd next to qemu-storage-daemon 7.2, side by side.

Workloads (each daemon started the same way, the two taking turns, median of --reps runs):

  write-N     4 KiB writes through an NBD export of a null-co node (1 GiB) with N = 0, 1, 16
              recording bitmaps (64 KiB granularity), driven by `qemu-img bench -w -d 16`
              with a 68 KiB step, so consecutive writes land in different granules and words.
              null-co does no I/O, so the figure is the daemon's own write path: NBD, the
              generic path and the bitmap marking. The bitmaps are cleared before each run.
  merge-1t    block-dirty-bitmap-merge of a bitmap with its first 16 GiB dirty into an empty
              one on a 1 TiB null-co node at 64 KiB granularity (16 Mi bits), one QMP round trip.
  clear-1t    block-dirty-bitmap-clear of the merged bitmap.
  dense       the same on bitmaps with many dirty bits: `full` (all 16 Mi bits set) and
              `scattered` (one bit in every 64, so every word is non-zero), each merged into an
              empty bitmap and cleared again; then as transactions: libvirt's pull-backup bitmap
              (add a disabled bitmap and merge both into it) and a clear (which keeps the old
              bits for undo). One QMP round trip per figure, median of 5.
  persist-N   like write-N, but on a qcow2 image (cache.direct=off) with N persistent bitmaps,
              written twice: once fresh (blockd writes each first bit ahead) and once again.

Prints median seconds per daemon and the blockd/qsd ratio (lower is better for blockd).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GRANULARITY = 65536


class Qmp:
    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no QMP socket at {path}")
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")
        self.read()
        self.execute("qmp_capabilities")

    def read(self):
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("QMP connection closed")
            message = json.loads(line)
            if "event" not in message:
                return message

    def execute(self, command, **arguments):
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        reply = self.read()
        if "error" in reply:
            raise RuntimeError(f"{command}: {reply['error']['desc']}")
        return reply["return"]

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, binary, workdir, name, blockdev, export=True):
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=workdir)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.nbd_path = os.path.join(self.dir, "nbd.sock")
        args = [binary, "--chardev", f"socket,id=m,path={self.qmp_path},server=on,wait=off",
                "--monitor", "chardev=m", "--blockdev", blockdev]
        if export:
            args += ["--nbd-server", f"addr.type=unix,addr.path={self.nbd_path}",
                     "--export", "type=nbd,id=e,node-name=disk,name=disk,writable=on"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self.qmp = Qmp(self.qmp_path)
        except Exception:
            self.stop()
            raise

    @property
    def uri(self):
        return f"nbd+unix:///disk?socket={self.nbd_path}"

    def stop(self):
        try:
            if self.process.poll() is None:
                try:
                    self.qmp.execute("quit")
                except Exception:
                    pass
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def qemu_img_bench(uri, count):
    start = time.monotonic()
    subprocess.run(["qemu-img", "bench", "-f", "raw", "-w", "-q", "-c", str(count), "-d", "16",
                    "-s", "4096", "-S", str(17 * 4096), uri], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def run_write(binary, workdir, bitmaps, count, persistent, image):
    if persistent:
        blockdev = f"driver=qcow2,node-name=disk,file.driver=file,file.filename={image}"
    else:
        blockdev = "driver=null-co,node-name=disk,size=1073741824"
    daemon = Daemon(binary, workdir, os.path.basename(binary), blockdev)
    try:
        for i in range(bitmaps):
            daemon.qmp.execute("block-dirty-bitmap-add", node="disk", name=f"b{i}",
                               granularity=GRANULARITY, persistent=persistent)
        first = qemu_img_bench(daemon.uri, count)
        again = qemu_img_bench(daemon.uri, count) if persistent else None
        for i in range(bitmaps):
            daemon.qmp.execute("block-dirty-bitmap-remove", node="disk", name=f"b{i}")
        return first if not persistent else (first, again)
    finally:
        daemon.stop()


def run_bitmap_ops(binary, workdir, repeats):
    daemon = Daemon(binary, workdir, os.path.basename(binary),
                    "driver=null-co,node-name=disk,size=1099511627776", export=True)
    try:
        q = daemon.qmp
        q.execute("block-dirty-bitmap-add", node="disk", name="full", granularity=GRANULARITY)
        # Dirty the first 16 GiB (1 Mi of the 16 Mi bits): write-zeroes on null-co is free but
        # still recorded. qsd takes minutes to zero the whole TiB through NBD, and its merge and
        # clear walk every word whatever the content, so a partly dirty bitmap measures it fairly.
        commands = []
        for gib in range(16):
            commands += ["-c", f"write -z {gib << 30} 1G"]
        subprocess.run(["qemu-io", "-f", "raw", *commands, daemon.uri], check=True,
                       timeout=600, stdout=subprocess.DEVNULL)
        q.execute("block-dirty-bitmap-disable", node="disk", name="full")
        q.execute("block-dirty-bitmap-add", node="disk", name="target", granularity=GRANULARITY, disabled=True)
        merges, clears = [], []
        for _ in range(repeats):
            q.execute("block-dirty-bitmap-clear", node="disk", name="target")
            start = time.monotonic()
            q.execute("block-dirty-bitmap-merge", node="disk", target="target", bitmaps=["full"])
            merges.append(time.monotonic() - start)
            start = time.monotonic()
            q.execute("block-dirty-bitmap-clear", node="disk", name="target")
            clears.append(time.monotonic() - start)
        return statistics.median(merges), statistics.median(clears)
    finally:
        daemon.stop()


def timed(action):
    start = time.monotonic()
    action()
    return time.monotonic() - start


def run_dense_ops(binary, workdir, repeats):
    """Merge and clear of 16 Mi-bit bitmaps with many dirty bits, as commands and in transactions."""
    daemon = Daemon(binary, workdir, os.path.basename(binary),
                    "driver=null-co,node-name=disk,size=1099511627776", export=True)
    try:
        q = daemon.qmp
        # Every bit set, cheaply: a 2 GiB-granularity bitmap gets all its 512 bits from 512
        # small writes, then a merge spreads them over a 64 KiB one (both daemons merge across
        # granularities).
        q.execute("block-dirty-bitmap-add", node="disk", name="coarse", granularity=1 << 31)
        writes = []
        for i in range(512):
            writes += ["-c", f"write {i << 31} 512"]
        subprocess.run(["qemu-io", "-f", "raw", *writes, daemon.uri], check=True, timeout=600,
                       stdout=subprocess.DEVNULL)
        q.execute("block-dirty-bitmap-add", node="disk", name="full", granularity=GRANULARITY, disabled=True)
        q.execute("block-dirty-bitmap-merge", node="disk", target="full", bitmaps=["coarse"])
        q.execute("block-dirty-bitmap-remove", node="disk", name="coarse")
        # One dirty granule in every 64 (every 4 MiB): every word of the bitmap is non-zero, so
        # no summary level can skip any of it.
        q.execute("block-dirty-bitmap-add", node="disk", name="scattered", granularity=GRANULARITY)
        subprocess.run(["qemu-img", "bench", "-f", "raw", "-w", "-q", "-c", str(1 << 18), "-d", "32",
                        "-s", "512", "-S", str(4 << 20), daemon.uri], check=True, timeout=1200,
                       stdout=subprocess.DEVNULL)
        q.execute("block-dirty-bitmap-disable", node="disk", name="scattered")
        counts = {b["name"]: b["count"] for node in q.execute("query-named-block-nodes", flat=True)
                  if node["node-name"] == "disk" for b in node.get("dirty-bitmaps", [])}
        # A daemon that did not record what the workload assumes is reported, not timed.
        if counts.get("full") != 1 << 40 or counts.get("scattered") != (1 << 18) * GRANULARITY:
            raise RuntimeError(f"{binary}: unexpected bitmap counts {counts}")
        q.execute("block-dirty-bitmap-add", node="disk", name="target", granularity=GRANULARITY, disabled=True)
        rows = {}

        def add(name, value):
            rows.setdefault(name, []).append(value)

        def transaction(*actions):
            q.execute("transaction", actions=[{"type": t, "data": d} for t, d in actions])

        for _ in range(repeats):
            for source in ("full", "scattered"):
                q.execute("block-dirty-bitmap-clear", node="disk", name="target")
                add(f"merge-1t {source}", timed(lambda: q.execute(
                    "block-dirty-bitmap-merge", node="disk", target="target", bitmaps=[source])))
                add(f"clear-1t {source}", timed(lambda: q.execute(
                    "block-dirty-bitmap-clear", node="disk", name="target")))
            # libvirt's pull-backup bitmap: a new disabled bitmap merged from two checkpoints.
            add("tx add+merge-1t full+scattered", timed(lambda: transaction(
                ("block-dirty-bitmap-add", {"node": "disk", "name": "tmp", "disabled": True}),
                ("block-dirty-bitmap-merge", {"node": "disk", "target": "tmp", "bitmaps": ["full", "scattered"]}))))
            q.execute("block-dirty-bitmap-remove", node="disk", name="tmp")
            # A clear inside a transaction keeps the old bits for undo.
            q.execute("block-dirty-bitmap-merge", node="disk", target="target", bitmaps=["full"])
            add("tx clear-1t full", timed(lambda: transaction(
                ("block-dirty-bitmap-clear", {"node": "disk", "name": "target"}))))
        return {name: statistics.median(values) for name, values in rows.items()}
    finally:
        daemon.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blockd", required=True)
    parser.add_argument("--qsd", default="/usr/bin/qemu-storage-daemon")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--count", type=int, default=100000, help="4 KiB writes per write run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--only", choices=("write", "persist", "ops", "dense"), action="append",
                        help="run only these workload groups (repeatable; default all)")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.count = 1, 5000
    for tool in ("qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed")
    workdir = tempfile.mkdtemp(prefix="bitmap-bench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    daemons = {"blockd": args.blockd, "qsd": args.qsd}
    results = {}

    def record(name, side, value):
        results.setdefault(name, {}).setdefault(side, []).append(value)

    try:
        for rep in range(args.reps):
            for side, binary in (daemons.items() if rep % 2 == 0 else reversed(list(daemons.items()))):
                def wanted(group):
                    return not args.only or group in args.only

                for n in (0, 1, 16) if wanted("write") else ():
                    record(f"write-{n} ({args.count} x 4 KiB)", side, run_write(binary, workdir, n, args.count, False, None))
                for n in (1, 16) if wanted("persist") else ():
                    image = os.path.join(workdir, f"{side}.qcow2")
                    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "1G"], check=True)
                    first, again = run_write(binary, workdir, n, args.count // 4, True, image)
                    record(f"persist-{n} fresh ({args.count // 4} x 4 KiB)", side, first)
                    record(f"persist-{n} again ({args.count // 4} x 4 KiB)", side, again)
                    os.unlink(image)
                if wanted("ops"):
                    merge, clear = run_bitmap_ops(binary, workdir, 5)
                    record("merge-1t (16 Mi bits)", side, merge)
                    record("clear-1t (16 Mi bits)", side, clear)
                if wanted("dense"):
                    for name, value in run_dense_ops(binary, workdir, 5).items():
                        record(name, side, value)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{'workload':<40} {'blockd s':>10} {'qsd s':>10} {'blockd/qsd':>11}")
    table = {}
    for name, sides in results.items():
        b, q = statistics.median(sides["blockd"]), statistics.median(sides["qsd"])
        table[name] = {"blockd": sides["blockd"], "qsd": sides["qsd"], "ratio": b / q}
        print(f"{name:<40} {b:>10.4f} {q:>10.4f} {b / q:>11.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=2)


if __name__ == "__main__":
    main()
