# Prints the ranges an image holds itself (depth 0 in `qemu-img map --output=json`, read from
# stdin), adjacent extents merged whatever their host offsets: a daemon that copies several
# chunks at once lays clusters out in another order than one copying them in turn.
import json
import sys

ranges = []
for e in json.load(sys.stdin):
    if e["depth"] != 0:
        continue
    if ranges and ranges[-1][0] + ranges[-1][1] == e["start"] and ranges[-1][2] == e["data"]:
        ranges[-1][1] += e["length"]
    else:
        ranges.append([e["start"], e["length"], e["data"]])
for start, length, data in ranges:
    print(start, length, data)
