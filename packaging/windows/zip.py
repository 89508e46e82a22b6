#!/usr/bin/env python3
"""Writes a reproducible zip: zip.py OUT.zip SOURCE_DATE_EPOCH DIR (the zip holds DIR's name and
every file under it). Sorted entries, every timestamp SOURCE_DATE_EPOCH (zip cannot go before
1980), fixed attributes, deflate level 9: the same bytes for the same files. Standard library
only; Windows' Explorer and `Expand-Archive` open it."""
import os
import sys
import time
import zipfile

out, epoch, top = sys.argv[1], int(sys.argv[2]), sys.argv[3].rstrip("/")
stamp = time.gmtime(max(epoch, 315532800))[:6]
base = os.path.dirname(top)
paths = []
for root, dirs, files in os.walk(top):
    dirs.sort()
    paths += [os.path.join(root, f) for f in files]
with zipfile.ZipFile(out, "w") as z:
    for path in sorted(paths):
        info = zipfile.ZipInfo(os.path.relpath(path, base).replace(os.sep, "/"), stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 0  # MS-DOS: no Unix modes, as Windows tools write them
        info.external_attr = 0x20  # FILE_ATTRIBUTE_ARCHIVE
        with open(path, "rb") as f:
            z.writestr(info, f.read(), compresslevel=9)
print(out)
