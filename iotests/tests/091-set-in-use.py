#!/usr/bin/env python3
# Sets the in_use flag of one bitmap in a qcow2 image's bitmap directory, as a QEMU that died
# while the image was open read-write leaves it. Usage: 091-set-in-use.py IMAGE BITMAP
import struct
import sys

path, name = sys.argv[1], sys.argv[2].encode()
with open(path, "r+b") as f:
    header = f.read(4096)
    offset = struct.unpack(">I", header[100:104])[0]
    while offset + 8 <= len(header):
        ext_type, length = struct.unpack(">II", header[offset:offset + 8])
        if ext_type == 0:
            sys.exit("no bitmaps extension")
        if ext_type == 0x23852875:
            _, _, dir_size, dir_offset = struct.unpack(">IIQQ", header[offset + 8:offset + 32])
            f.seek(dir_offset)
            directory = f.read(dir_size)
            at = 0
            while at < len(directory):
                name_size, extra = struct.unpack(">HI", directory[at + 18:at + 24])
                if directory[at + 24 + extra:at + 24 + extra + name_size] == name:
                    flags = struct.unpack(">I", directory[at + 12:at + 16])[0] | 1
                    f.seek(dir_offset + at + 12)
                    f.write(struct.pack(">I", flags))
                    sys.exit(0)
                at += (24 + extra + name_size + 7) & ~7
            sys.exit("bitmap not found")
        offset += 8 + ((length + 7) & ~7)
