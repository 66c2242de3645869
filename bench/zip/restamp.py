#!/usr/bin/env python3
"""restamp.py IN OUT EPOCH — copy a zip (htmlzip, ePub) with every entry's DOS date/time set to EPOCH.

Patches only the date/time fields of each local header and central directory entry, in place: the
member data, their order and compression are untouched, exactly what a rebuild of unchanged pages
does to an archive (the same compressed bytes under new timestamps). Extended-timestamp extra fields
(0x5455), if any, are rewritten too.
"""
import os
import shutil
import struct
import sys
import time
import zipfile


def dos(ts):
    t = time.gmtime(max(ts, 315532800))
    return ((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
            ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday)


def patch_ut(buf, start, length, ts):
    k, end = start, start + length
    while k + 4 <= end:
        hid, size = struct.unpack_from("<HH", buf, k)
        if hid == 0x5455 and size >= 5 and buf[k + 4] & 1:
            struct.pack_into("<I", buf, k + 5, ts & 0xFFFFFFFF)
        k += 4 + size


def main(src, out, ts):
    dtime, ddate = dos(ts)
    tmp = out + ".tmp"
    shutil.copyfile(src, tmp)
    with zipfile.ZipFile(src) as z:
        infos = z.infolist()
        start_dir = z.start_dir
    with open(tmp, "r+b") as f:
        buf = bytearray(f.read())
        for i in infos:
            o = i.header_offset
            assert buf[o:o + 4] == b"PK\x03\x04", i.filename
            struct.pack_into("<HH", buf, o + 10, dtime, ddate)
            n, e = struct.unpack_from("<HH", buf, o + 26)
            patch_ut(buf, o + 30 + n, e, ts)
        p = start_dir
        for _ in infos:
            assert buf[p:p + 4] == b"PK\x01\x02"
            struct.pack_into("<HH", buf, p + 12, dtime, ddate)
            n, e, c = struct.unpack_from("<HHH", buf, p + 28)
            patch_ut(buf, p + 46 + n, e, ts)
            p += 46 + n + e + c
        f.seek(0)
        f.write(buf)
    os.replace(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
