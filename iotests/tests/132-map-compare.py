#!/usr/bin/env python3
"""Compares a qemu:dirty-bitmap map with base:allocation (both `nbdinfo --map --json` files):
prints the dirty and the allocated 64 KiB clusters and whether they are the same set."""
import json
import sys

CLUSTER = 65536


def clusters(path, wanted):
    found = set()
    for extent in json.load(open(path)):
        if wanted(extent["type"]):
            start = extent["offset"] // CLUSTER
            end = (extent["offset"] + extent["length"] + CLUSTER - 1) // CLUSTER
            found.update(range(start, end))
    return found


dirty = clusters(sys.argv[1], lambda t: t & 1)
# base:allocation: bit 0 is "hole"; a written cluster is data.
allocated = clusters(sys.argv[2], lambda t: not t & 1)
print("dirty clusters:", sorted(dirty))
print("written clusters:", sorted(allocated))
print("same" if dirty == allocated else "DIFFERENT")
